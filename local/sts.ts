import { randomBytes, randomUUID } from 'node:crypto';
import type { HttpRequest, HttpResponse } from './aws-json-server.js';

/**
 * The local stack's STS: `AssumeRole` in the AWS Query protocol (a form-encoded `POST /`, an XML answer), so
 * the credentials function's real `StsCredentialIssuer` runs unchanged with `AWS_ENDPOINT_URL_STS` pointed
 * here. It checks what STS documents about the parameters (names, durations, the session policy's size and
 * JSON, tags) and answers with credentials that say what they are: the access key starts with `LOCALONLY` and
 * no AWS service accepts them. It cannot check a role's trust policy, its maximum session duration, or what
 * the session policy lets the credentials do: there is no IAM here.
 */

export const LOCAL_ACCESS_KEY_PREFIX = 'LOCALONLY';
const STS_NAME = /^[\w+=,.@-]{2,64}$/;
const ROLE_ARN = /^arn:aws(-[a-z]+)*:iam::\d{12}:role\/([\w+=,.@-]+\/)*([\w+=,.@-]{1,64})$/;
const TAG_KEY = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$/u;
const TAG_VALUE = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{0,256}$/u;

/** One AssumeRole the local STS answered (no secret: the credentials are not kept). */
export interface LocalAssumeRoleCall {
  roleArn: string;
  roleSessionName: string;
  sourceIdentity: string | undefined;
  durationSeconds: number;
  policy: string | undefined;
  tags: Array<{ Key: string; Value: string }>;
  accessKeyId: string;
}

class StsError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'StsError';
  }
}

function xml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c] ?? c);
}

/** Whether a `POST /` is an AWS Query request (STS), not the AWS JSON protocol of EventBridge and Step Functions. */
export function isQueryProtocolRequest(request: HttpRequest): boolean {
  const contentType = request.headers['content-type'];
  return (Array.isArray(contentType) ? contentType[0] : contentType)?.startsWith('application/x-www-form-urlencoded') === true;
}

function parseAssumeRole(form: URLSearchParams): Omit<LocalAssumeRoleCall, 'accessKeyId'> {
  const roleArn = form.get('RoleArn') ?? '';
  if (!ROLE_ARN.test(roleArn)) throw new StsError('ValidationError', `RoleArn "${roleArn}" is not a role ARN`);
  const roleSessionName = form.get('RoleSessionName') ?? '';
  if (!STS_NAME.test(roleSessionName)) throw new StsError('ValidationError', 'RoleSessionName must be 2-64 characters of [\\w+=,.@-]');
  const sourceIdentity = form.get('SourceIdentity') ?? undefined;
  if (sourceIdentity !== undefined && (!STS_NAME.test(sourceIdentity) || sourceIdentity.toLowerCase().startsWith('aws:'))) {
    throw new StsError('ValidationError', 'SourceIdentity must be 2-64 characters of [\\w+=,.@-] and must not start with "aws:"');
  }
  const durationSeconds = Number(form.get('DurationSeconds') ?? '3600');
  if (!Number.isInteger(durationSeconds) || durationSeconds < 900 || durationSeconds > 43_200) {
    throw new StsError('ValidationError', 'DurationSeconds must be from 900 to 43200 (and at most the role\'s maximum session duration)');
  }
  const policy = form.get('Policy') ?? undefined;
  if (policy !== undefined) {
    if (policy.length > 2048) throw new StsError('PackedPolicyTooLarge', `the session policy is ${policy.length} characters; at most 2048`);
    try {
      JSON.parse(policy);
    } catch {
      throw new StsError('MalformedPolicyDocument', 'the session policy is not JSON');
    }
  }
  const tags: Array<{ Key: string; Value: string }> = [];
  for (let i = 1; form.has(`Tags.member.${i}.Key`); i++) tags.push({ Key: form.get(`Tags.member.${i}.Key`) ?? '', Value: form.get(`Tags.member.${i}.Value`) ?? '' });
  if (tags.length > 50) throw new StsError('ValidationError', 'at most 50 session tags');
  for (const tag of tags) {
    if (!TAG_KEY.test(tag.Key) || !TAG_VALUE.test(tag.Value)) throw new StsError('ValidationError', `session tag ${JSON.stringify(tag.Key)} has a key or value STS does not accept`);
  }
  return { roleArn, roleSessionName, sourceIdentity, durationSeconds, policy, tags };
}

/** A local STS that answers AssumeRole and remembers the calls (for tests and the terminal). */
export class LocalSts {
  readonly calls: LocalAssumeRoleCall[] = [];

  constructor(private readonly now: () => Date = () => new Date()) {}

  handle(request: HttpRequest): HttpResponse {
    const requestId = randomUUID();
    const form = new URLSearchParams(request.body.toString('utf8'));
    try {
      const action = form.get('Action');
      if (action !== 'AssumeRole') throw new StsError('InvalidAction', `the local STS answers AssumeRole only, not ${action ?? 'a request without Action'}`);
      const call = parseAssumeRole(form);
      const accessKeyId = `${LOCAL_ACCESS_KEY_PREFIX}${randomBytes(6).toString('hex').toUpperCase()}`;
      this.calls.push({ ...call, accessKeyId });
      const expiration = new Date(this.now().getTime() + call.durationSeconds * 1000).toISOString();
      const roleName = ROLE_ARN.exec(call.roleArn)?.[3] ?? 'role';
      const account = /::(\d{12}):/.exec(call.roleArn)?.[1] ?? '000000000000';
      const body = [
        '<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">',
        '<AssumeRoleResult>',
        ...(call.sourceIdentity === undefined ? [] : [`<SourceIdentity>${xml(call.sourceIdentity)}</SourceIdentity>`]),
        `<AssumedRoleUser><Arn>arn:aws:sts::${account}:assumed-role/${xml(roleName)}/${xml(call.roleSessionName)}</Arn><AssumedRoleId>AROALOCALONLY:${xml(call.roleSessionName)}</AssumedRoleId></AssumedRoleUser>`,
        '<Credentials>',
        `<AccessKeyId>${accessKeyId}</AccessKeyId>`,
        `<SecretAccessKey>local-only-not-valid-in-aws-${randomBytes(12).toString('hex')}</SecretAccessKey>`,
        `<SessionToken>${LOCAL_ACCESS_KEY_PREFIX}-session-${randomBytes(16).toString('hex')}</SessionToken>`,
        `<Expiration>${expiration}</Expiration>`,
        '</Credentials>',
        `<PackedPolicySize>${Math.ceil(((call.policy?.length ?? 0) / 2048) * 100)}</PackedPolicySize>`,
        '</AssumeRoleResult>',
        `<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata>`,
        '</AssumeRoleResponse>',
      ].join('');
      return { statusCode: 200, headers: { 'content-type': 'text/xml', 'x-amzn-requestid': requestId }, body };
    } catch (error) {
      if (!(error instanceof StsError)) throw error;
      const body = `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>${xml(error.code)}</Code><Message>${xml(error.message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`;
      return { statusCode: 400, headers: { 'content-type': 'text/xml', 'x-amzn-requestid': requestId }, body };
    }
  }
}
