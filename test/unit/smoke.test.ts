import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { CountersignStack } from '../../infra/countersign-stack.js';
import { checkBusPolicy, describeStackOutputs, parseSmokeArgs, SmokeUsageError } from '../../scripts/smoke.js';
import { testApp } from '../support/cdk-app.js';

/** The parts of `npm run smoke` that need AWS, run here against what the stack synthesizes and canned answers. */

const credentials = { accessKeyId: 'AKID', secretAccessKey: 'SECRET' };

describe('smoke: the bus policy check', () => {
  const stack = new CountersignStack(testApp(), 'Countersign-test', { stage: 'test' });
  const [bus] = Object.values(Template.fromStack(stack).findResources('AWS::Events::EventBus')) as Array<{ Properties: { Policy: { Statement: Array<Record<string, unknown>> } } }>;
  const policy = bus!.Properties.Policy;

  it('passes the policy the stack puts on the bus', () => {
    expect(checkBusPolicy(JSON.stringify(policy))).toEqual({ status: 'pass', check: 'bus policy', detail: 'one document, 4 statements, the "Action Decided" deny present' });
  });

  it('fails, saying what to do, when the Action Decided deny is gone or the bus has no policy', () => {
    const withoutDeny = { ...policy, Statement: policy.Statement.filter((s) => s.Sid !== 'OnlyPublishersSendDecisions') };
    expect(checkBusPolicy(JSON.stringify(withoutDeny))).toMatchObject({ status: 'fail', detail: expect.stringContaining('anyone in the account could forge decisions; redeploy the stack') });
    expect(checkBusPolicy(undefined)).toMatchObject({ status: 'fail', detail: expect.stringContaining('the bus has no resource policy') });
  });
});

describe('smoke: the stack outputs (CloudFormation DescribeStacks, signed)', () => {
  it('reads every output of the stack from the query API answer, signed for cloudformation in the region', async () => {
    const seen: Array<{ url: string; headers: Record<string, string>; body: string }> = [];
    const xml = `<DescribeStacksResponse><DescribeStacksResult><Stacks><member><Outputs>
      <member><Description>d</Description><OutputKey>EventBusName</OutputKey><OutputValue>Countersign-prod-bus</OutputValue></member>
      <member><OutputKey>DecisionApiUrl</OutputKey><OutputValue>https://abc.lambda-url.eu-west-1.on.aws/</OutputValue></member>
      <member><OutputKey>Odd</OutputKey><OutputValue>a &amp; b</OutputValue></member>
    </Outputs><StackName>Countersign-prod</StackName></member></Stacks></DescribeStacksResult></DescribeStacksResponse>`;
    const fakeFetch = (async (url: string, init: RequestInit) => {
      seen.push({ url, headers: init.headers as Record<string, string>, body: String(init.body) });
      return new Response(xml, { status: 200 });
    }) as unknown as typeof fetch;
    const outputs = await describeStackOutputs('Countersign-prod', 'eu-west-1', credentials, fakeFetch);
    expect(outputs).toEqual({ EventBusName: 'Countersign-prod-bus', DecisionApiUrl: 'https://abc.lambda-url.eu-west-1.on.aws/', Odd: 'a & b' });
    expect(seen[0]?.url).toBe('https://cloudformation.eu-west-1.amazonaws.com/');
    expect(seen[0]?.body).toBe('Action=DescribeStacks&StackName=Countersign-prod&Version=2010-05-15');
    expect(seen[0]?.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKID\/\d{8}\/eu-west-1\/cloudformation\/aws4_request, /);
  });

  it('turns an error answer into a usage error that quotes AWS', async () => {
    const denied = (async () => new Response('<ErrorResponse><Error><Message>Stack with id Countersign-nope does not exist</Message></Error></ErrorResponse>', { status: 400 })) as unknown as typeof fetch;
    await expect(describeStackOutputs('Countersign-nope', 'eu-west-1', credentials, denied)).rejects.toThrow(new SmokeUsageError('DescribeStacks Countersign-nope in eu-west-1 answered 400: Stack with id Countersign-nope does not exist'));
  });
});

describe('smoke: arguments', () => {
  it('takes --stack or --endpoint, exactly one, and known options only', () => {
    expect(parseSmokeArgs(['--stack', 'Countersign-prod', '--region', 'eu-west-1']).get('--stack')).toBe('Countersign-prod');
    expect(() => parseSmokeArgs([])).toThrow(/give --stack \(AWS\) or --endpoint \(the local stack\), one of them/);
    expect(() => parseSmokeArgs(['--stack', 's', '--endpoint', 'http://127.0.0.1:4010'])).toThrow(/one of them/);
    expect(() => parseSmokeArgs(['--stack'])).toThrow(/--stack needs a value/);
    expect(() => parseSmokeArgs(['--bucket', 'b'])).toThrow(/unknown option --bucket/);
  });
});
