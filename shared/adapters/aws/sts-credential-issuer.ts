import { AssumeRoleCommand, type STSClient } from '@aws-sdk/client-sts';
import type { AssumeRoleSpec, CredentialIssuer, IssuedCredentials } from '../../ports/credentials.js';

export class CredentialIssueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CredentialIssueError';
  }
}

/** `CredentialIssuer` on STS: one AssumeRole call with the session policy, duration, tags and source identity. */
export class StsCredentialIssuer implements CredentialIssuer {
  constructor(private readonly client: STSClient) {}

  async assumeRole(spec: AssumeRoleSpec): Promise<IssuedCredentials> {
    const output = await this.client.send(new AssumeRoleCommand({
      RoleArn: spec.roleArn,
      RoleSessionName: spec.roleSessionName,
      SourceIdentity: spec.sourceIdentity,
      DurationSeconds: spec.durationSeconds,
      Policy: spec.sessionPolicy,
      Tags: spec.tags,
    }));
    const credentials = output.Credentials;
    if (credentials?.AccessKeyId === undefined || credentials.SecretAccessKey === undefined || credentials.SessionToken === undefined || credentials.Expiration === undefined) {
      throw new CredentialIssueError(`STS AssumeRole on ${spec.roleArn} answered without complete credentials`);
    }
    return {
      accessKeyId: credentials.AccessKeyId,
      secretAccessKey: credentials.SecretAccessKey,
      sessionToken: credentials.SessionToken,
      expiration: credentials.Expiration.toISOString(),
      assumedRoleArn: output.AssumedRoleUser?.Arn ?? '',
    };
  }
}
