import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { CredentialIssueError, StsCredentialIssuer } from '../../shared/adapters/aws/sts-credential-issuer.js';

const sts = mockClient(STSClient);
const spec = {
  roleArn: 'arn:aws:iam::123456789012:role/exec',
  roleSessionName: 'cs-a-1',
  sourceIdentity: 'cs-a-1',
  durationSeconds: 900,
  sessionPolicy: '{"Version":"2012-10-17","Statement":[]}',
  tags: [{ Key: 'countersign:actionId', Value: 'a-1' }, { Key: 'countersign:payloadSha256', Value: 'f'.repeat(64) }],
};

describe('StsCredentialIssuer', () => {
  beforeEach(() => sts.reset());

  it('makes one AssumeRole with the policy, duration, names and tags, and returns the credentials as @aws-sdk takes them', async () => {
    sts.on(AssumeRoleCommand).resolves({
      Credentials: { AccessKeyId: 'ASIA1', SecretAccessKey: 's', SessionToken: 't', Expiration: new Date('2026-11-22T03:15:00Z') },
      AssumedRoleUser: { Arn: 'arn:aws:sts::123456789012:assumed-role/exec/cs-a-1', AssumedRoleId: 'AROA:cs-a-1' },
    });
    const issued = await new StsCredentialIssuer(new STSClient({ region: 'eu-west-1' })).assumeRole(spec);
    expect(sts).toHaveReceivedCommandTimes(AssumeRoleCommand, 1);
    expect(sts).toHaveReceivedCommandWith(AssumeRoleCommand, {
      RoleArn: spec.roleArn, RoleSessionName: 'cs-a-1', SourceIdentity: 'cs-a-1', DurationSeconds: 900, Policy: spec.sessionPolicy, Tags: spec.tags,
    });
    expect(issued).toEqual({ accessKeyId: 'ASIA1', secretAccessKey: 's', sessionToken: 't', expiration: '2026-11-22T03:15:00.000Z', assumedRoleArn: 'arn:aws:sts::123456789012:assumed-role/exec/cs-a-1' });
  });

  it('refuses an answer without complete credentials', async () => {
    sts.on(AssumeRoleCommand).resolves({ Credentials: { AccessKeyId: 'ASIA1', SecretAccessKey: 's', SessionToken: undefined as never, Expiration: new Date() } });
    await expect(new StsCredentialIssuer(new STSClient({ region: 'eu-west-1' })).assumeRole(spec)).rejects.toBeInstanceOf(CredentialIssueError);
  });
});
