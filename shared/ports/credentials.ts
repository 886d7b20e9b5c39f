import type { CredentialsRefusalRule } from '../domain/credentials.js';
import type { RequestRecord } from './index.js';

/** What is recorded when credentials are claimed for an approval: no secret, only what was asked of STS. */
export interface CredentialsIssue {
  occurredAt: string;
  /** The IAM caller who asked (the agent's role session). */
  callerArn: string;
  roleArn: string;
  roleSessionName: string;
  sourceIdentity: string;
  durationSeconds: number;
  /** The session policy as sent to STS (no secret: it says what the credentials may do). */
  sessionPolicy: string;
  validUntil: string;
}

export interface CredentialsRefusal {
  occurredAt: string;
  callerArn: string;
  rule: CredentialsRefusalRule;
  message: string;
  /** Distinguishes the refusals of one request (each ask is its own event item). */
  refusalId: string;
}

/** STS failed after the claim: the approval's one issue is spent (see the README's design notes). */
export interface CredentialsFailure {
  occurredAt: string;
  callerArn: string;
  errorName: string;
  message: string;
}

/** A request as the credentials API reads it: the record, and whether its agent reported executing it. */
export interface RecordedRequest {
  record: RequestRecord;
  /** The status the agent reported executing the request with, or null when it has reported nothing yet. */
  executionStatus: string | null;
}

/** The decision table, as the credentials API uses it. */
export interface CredentialsStore {
  getRequest(actionId: string): Promise<RecordedRequest | undefined>;
  /** Writes the `credentials_issued` event item only if there is none yet: false when credentials were claimed before. */
  claimIssue(record: RequestRecord, issue: CredentialsIssue): Promise<boolean>;
  recordRefusal(record: RequestRecord, refusal: CredentialsRefusal): Promise<void>;
  recordFailure(record: RequestRecord, failure: CredentialsFailure): Promise<void>;
}

export interface AssumeRoleSpec {
  roleArn: string;
  roleSessionName: string;
  sourceIdentity: string;
  durationSeconds: number;
  sessionPolicy: string;
  tags: Array<{ Key: string; Value: string }>;
}

/** Temporary credentials, in the shape `@aws-sdk` clients take (`AwsCredentialIdentity`), plus STS's names for them. */
export interface IssuedCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  /** ISO 8601 UTC. */
  expiration: string;
  assumedRoleArn: string;
}

/** Issues role credentials (STS AssumeRole in AWS and, through its local endpoint, in the local stack). */
export interface CredentialIssuer {
  assumeRole(spec: AssumeRoleSpec): Promise<IssuedCredentials>;
}
