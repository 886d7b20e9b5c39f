import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  ExecutionGrants,
  ExecutionGrantsError,
  render,
  renderSessionPolicy,
  roleCeilingPolicy,
  SessionPolicyTooLargeError,
  UnsafePolicyValueError,
  type ExecutionGrant,
  type RenderValues,
} from '../../shared/domain/execution-grants.js';

const shipped = ExecutionGrants.parse(JSON.parse(readFileSync(new URL('../../config/execution-grants.json', import.meta.url), 'utf8')));
const dbExport = shipped.grantFor('db.export', 'Database')!;
const aws = { accountId: '123456789012', region: 'eu-west-1', partition: 'aws' };
const values = (over: Partial<RenderValues> = {}): RenderValues => ({ resourceId: 'customers', environment: 'prod', parameters: {}, aws, ...over });
const UNTIL = '2026-11-22T03:15:00.000Z';

function grantWith(policy: unknown, extra: Record<string, unknown> = {}): unknown {
  return { grants: [{ action: 'files.read', resourceType: 'Bucket', role: 'countersign-exec-files-read', sessionPolicy: policy, ...extra }] };
}
const statement = (resource: string, more: Record<string, unknown> = {}) => ({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['s3:GetObject'], Resource: resource, ...more }] });

describe('the shipped execution grants (config/execution-grants.json)', () => {
  it('grant db.export on Database through countersign-exec-db-export, 1-hour sessions', () => {
    expect(dbExport).toMatchObject({ role: 'countersign-exec-db-export', maxSessionSeconds: 3600 });
    expect(shipped.grantFor('db.export', 'Table')).toBeUndefined();
    expect(shipped.grantFor('db.query', 'Database')).toBeUndefined();
  });

  it('render the approved table only, until validUntil', () => {
    expect(render(dbExport, values(), UNTIL)).toEqual({
      Version: '2012-10-17',
      Statement: [{
        Sid: 'ExportApprovedTable',
        Effect: 'Allow',
        Action: ['dynamodb:Scan', 'dynamodb:Query', 'dynamodb:DescribeTable'],
        Resource: 'arn:aws:dynamodb:eu-west-1:123456789012:table/customers',
        Condition: { DateLessThan: { 'aws:CurrentTime': UNTIL } },
      }],
    });
  });

  it('give the role a ceiling of any table in its account, which each session narrows', () => {
    expect(roleCeilingPolicy(dbExport, aws).Statement[0]).toMatchObject({ Resource: 'arn:aws:dynamodb:eu-west-1:123456789012:table/*' });
  });
});

describe('rendering refuses values that would widen or reshape the policy', () => {
  it.each([
    ['*', 'a wildcard'],
    ['cust*', 'a trailing wildcard'],
    ['cust?mers', 'a single-character wildcard'],
    ['${aws:username}', 'an IAM policy variable'],
    ['a"b', 'a quote'],
    ["a'b", 'a single quote'],
    ['a b', 'a space'],
    ['a\tb', 'a tab'],
    ['orders/index/*', 'a slash (a sub-resource of the table)'],
    ['x:table/other', 'a colon (another ARN field)'],
    ['{}', 'braces'],
    ['', 'nothing'],
    ['x'.repeat(257), 'too long'],
  ])('%j (%s) as the resource id', (resourceId) => {
    expect(() => renderSessionPolicy(dbExport, values({ resourceId }), UNTIL)).toThrow(UnsafePolicyValueError);
  });

  it('says which placeholder was refused and why', () => {
    expect(() => renderSessionPolicy(dbExport, values({ resourceId: '*' }), UNTIL)).toThrow(/\$\{resource\.id\} may only hold 1-256 characters of A-Z, a-z, 0-9 and \._\+=,@- \(wildcards, policy variables/);
  });

  it('takes a "/" only where the grant allows it, and never a ":"', () => {
    const grants = ExecutionGrants.parse(grantWith(statement('arn:${aws.partition}:s3:::reports/${parameters.prefix}/*'), { slashAllowedIn: ['parameters.prefix'] }));
    const grant = grants.grantFor('files.read', 'Bucket')!;
    expect(render(grant, values({ parameters: { prefix: '2026/11' } }), UNTIL).Statement[0]!.Resource).toBe('arn:aws:s3:::reports/2026/11/*');
    expect(() => render(grant, values({ parameters: { prefix: '2026:11' } }), UNTIL)).toThrow(UnsafePolicyValueError);
    expect(() => render(grant, values({ parameters: { prefix: '*' } }), UNTIL)).toThrow(UnsafePolicyValueError);
  });

  it('refuses a missing parameter, an object or an array, and takes an integer', () => {
    const grant = ExecutionGrants.parse(grantWith(statement('arn:aws:s3:::reports/${parameters.year}/*'))).grantFor('files.read', 'Bucket')!;
    expect(() => render(grant, values(), UNTIL)).toThrow(/has no such value/);
    expect(() => render(grant, values({ parameters: { year: { toString: 'x' } } }), UNTIL)).toThrow(/string or an integer/);
    expect(() => render(grant, values({ parameters: { year: ['2026'] } }), UNTIL)).toThrow(/not an array/);
    expect(() => render(grant, values({ parameters: { year: 1.5 } }), UNTIL)).toThrow(/string or an integer/);
    expect(render(grant, values({ parameters: { year: 2026 } }), UNTIL).Statement[0]!.Resource).toBe('arn:aws:s3:::reports/2026/*');
  });

  it('never reads an inherited property as a parameter', () => {
    const grant = ExecutionGrants.parse(grantWith(statement('arn:aws:s3:::reports/${parameters.constructor}/*'))).grantFor('files.read', 'Bucket')!;
    expect(() => render(grant, values(), UNTIL)).toThrow(/has no such value/);
  });

  it('builds JSON structurally: a value is text inside one string, never JSON', () => {
    const text = renderSessionPolicy(dbExport, values({ resourceId: 'customers-2026.v1@eu' }), UNTIL);
    const parsed = JSON.parse(text) as { Statement: Array<{ Resource: string }> };
    expect(parsed.Statement).toHaveLength(1);
    expect(parsed.Statement[0]!.Resource).toBe('arn:aws:dynamodb:eu-west-1:123456789012:table/customers-2026.v1@eu');
    expect(text).not.toMatch(/\s/);
  });

  it('refuses account values that are not an account, a region or a partition', () => {
    expect(() => render(dbExport, values({ aws: { ...aws, accountId: '*' } }), UNTIL)).toThrow(UnsafePolicyValueError);
    expect(() => render(dbExport, values({ aws: { ...aws, region: 'eu-west-1:*' } }), UNTIL)).toThrow(UnsafePolicyValueError);
  });

  it('refuses a rendered policy over 2,048 characters', () => {
    const long = { Version: '2012-10-17', Statement: Array.from({ length: 9 }, (_, i) => ({ Sid: `S${i}`, Effect: 'Allow', Action: ['s3:GetObject'], Resource: 'arn:aws:s3:::bucket-with-a-rather-long-name-for-reports/${parameters.key}' })) };
    const grant = { ...ExecutionGrants.parse(grantWith(statement('arn:aws:s3:::b/${parameters.key}'))).grantFor('files.read', 'Bucket')!, sessionPolicy: long } as ExecutionGrant;
    expect(() => renderSessionPolicy(grant, values({ parameters: { key: 'k'.repeat(200) } }), UNTIL)).toThrow(SessionPolicyTooLargeError);
  });
});

describe('the configuration is validated with one clear message per problem', () => {
  const problems = (json: unknown) => {
    try {
      ExecutionGrants.parse(json, 'grants.json');
      return '';
    } catch (error) {
      expect(error).toBeInstanceOf(ExecutionGrantsError);
      return (error as Error).message;
    }
  };

  it.each([
    [grantWith(statement('arn:aws:s3:::x/${resource.name}')), /unknown placeholder \$\{resource\.name\}/],
    [grantWith(statement('*')), /"\*" is every resource/],
    [grantWith({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: 'arn:aws:s3:::x/${resource.id}' }] }), /"s3:\*" allows every action/],
    [grantWith({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', NotAction: 's3:GetObject', Resource: 'arn:aws:s3:::x' }] }), /NotAction, NotResource and Principal are refused/],
    [grantWith({ Version: '2008-10-17', Statement: [] }), /Version: must be "2012-10-17"/],
    [grantWith(statement('arn:aws:s3:::x/${resource.id}'), { maxSessionSeconds: 600 }), /maxSessionSeconds: must be at least 3600/],
    [grantWith(statement('arn:aws:s3:::x/${resource.id}'), { role: 'has space' }), /role: must be 1-64 characters/],
    [{ grants: [...(grantWith(statement('arn:aws:s3:::x/${resource.id}')) as { grants: unknown[] }).grants, ...(grantWith(statement('arn:aws:s3:::y/${resource.id}')) as { grants: unknown[] }).grants] }, /files\.read on Bucket is already granted by grants\.0/],
    [grantWith(statement('arn:aws:s3:::x/${resource.id}'), { extra: true }), /Unrecognized key/i],
  ])('%#', (json, message) => {
    expect(problems(json)).toMatch(message);
  });

  it('names the file and the path of each problem', () => {
    expect(problems(grantWith(statement('arn:aws:s3:::x/${nope}')))).toMatch(/^grants\.json is not a valid execution-grant configuration: grants\.0\.sessionPolicy\.Statement\.0\.Resource: unknown placeholder/);
  });

  it('keeps IAM policy variables as written', () => {
    const grant = ExecutionGrants.parse(grantWith(statement('arn:aws:s3:::home/${aws:userid}/${resource.id}'))).grantFor('files.read', 'Bucket')!;
    expect(render(grant, values(), UNTIL).Statement[0]!.Resource).toBe('arn:aws:s3:::home/${aws:userid}/customers');
  });
});
