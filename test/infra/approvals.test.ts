import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Function as LambdaFunction, Code, Runtime } from 'aws-cdk-lib/aws-lambda';
import { afterAll, describe, expect, it } from 'vitest';
import { approvalDefinitionFromTemplate, placeholderFunctionArn } from '../../infra/approval-definition.js';
import { ApprovalWorkflow, LAMBDA_SERVICE_ERRORS } from '../../infra/constructs/approval-workflow.js';
import { PROJECT_ROOT } from '../../infra/constructs/house-function.js';
import { CountersignStack, type CountersignStackProps } from '../../infra/countersign-stack.js';
import { ENV } from '../../shared/config.js';
import { REJECTED_ERROR, REVIEW_CLOSED_ERROR, WORKFLOW_STATES } from '../../shared/workflow/contract.js';
import { testApp } from '../support/cdk-app.js';

type Json = Record<string, unknown>;
type Resources = Record<string, { Type: string; Properties?: Json; DeletionPolicy?: string }>;
type State = Json & {
  Type: string;
  Next?: string;
  End?: boolean;
  Default?: string;
  Choices?: Array<Json & { Next: string }>;
  Catch?: Array<{ ErrorEquals: string[]; Next: string; ResultPath?: string | null }>;
  Retry?: Array<{ ErrorEquals: string[]; MaxAttempts?: number; MaxDelaySeconds?: number; IntervalSeconds?: number; BackoffRate?: number }>;
};

function synth(props: Partial<CountersignStackProps> = {}) {
  const app = testApp();
  const stack = new CountersignStack(app, 'Countersign-test', { stage: 'test', ...props });
  return { stack, template: Template.fromStack(stack) };
}

const { template } = synth();
const resources = template.toJSON().Resources as Resources;
const definition = approvalDefinitionFromTemplate(template.toJSON()) as { StartAt: string; States: Record<string, State>; TimeoutSeconds?: number };
const states = definition.States;
const [stateMachineId, stateMachine] = Object.entries(template.findResources('AWS::StepFunctions::StateMachine') as Resources)[0]!;

function functionByService(service: string): [string, Resources[string]] {
  const found = Object.entries(template.findResources('AWS::Lambda::Function', { Properties: { Environment: { Variables: { POWERTOOLS_SERVICE_NAME: service } } } }) as Resources);
  expect(found, service).toHaveLength(1);
  return found[0]!;
}
const variablesOf = (service: string) => (functionByService(service)[1].Properties?.Environment as { Variables: Json }).Variables;

const REVIEW_STATES = [
  [WORKFLOW_STATES.requestReview, 'initial', '$.timing.reminderAfterSeconds', WORKFLOW_STATES.remindReviewers],
  [WORKFLOW_STATES.remindReviewers, 'reminder', '$.timing.deadlineAfterSeconds', WORKFLOW_STATES.hasEscalation],
  [WORKFLOW_STATES.escalateReview, 'escalation', '$.timing.escalationSeconds', WORKFLOW_STATES.recordExpired],
] as const;

const RECORD_STATES = [
  [WORKFLOW_STATES.recordApproved, 'approved', { 'result.$': '$.result' }],
  [WORKFLOW_STATES.recordRejected, 'rejected', { 'error.$': '$.error' }],
  [WORKFLOW_STATES.recordExpired, 'expired', {}],
  [WORKFLOW_STATES.recordFailed, 'failed', { 'error.$': '$.error' }],
  [WORKFLOW_STATES.closeApprovalWindow, 'window_closed', {}],
] as const;
/** RecordApproved keeps record-outcome's validUntil, to wait for the approval's window. */
const KEEPS_RESULT: Partial<Record<string, { ResultPath: string; ResultSelector: object }>> = {
  [WORKFLOW_STATES.recordApproved]: { ResultPath: '$.recorded', ResultSelector: { 'validUntil.$': '$.Payload.validUntil' } },
};

describe('approval state machine', () => {
  it('is a Standard state machine that logs ALL events without execution data, with tracing', () => {
    expect(stateMachine.Properties).toMatchObject({
      StateMachineType: 'STANDARD',
      LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: false, Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: { 'Fn::GetAtt': [expect.any(String), 'Arn'] } } }] },
      TracingConfiguration: { Enabled: true },
    });
    const logGroupId = ((stateMachine.Properties?.LoggingConfiguration as { Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: { 'Fn::GetAtt': [string] } } }] }).Destinations[0].CloudWatchLogsLogGroup.LogGroupArn['Fn::GetAtt'][0]);
    expect(resources[logGroupId]?.Properties).toMatchObject({ LogGroupName: '/aws/vendedlogs/states/Countersign-test-approval-workflow', RetentionInDays: 90 });
  });

  it('has exactly the contract\'s states, starting with RequestReview', () => {
    expect(definition.StartAt).toBe(WORKFLOW_STATES.requestReview);
    expect(Object.keys(states).sort()).toEqual(Object.values(WORKFLOW_STATES).sort());
  });

  it.each(REVIEW_STATES)('%s posts (phase %s) and waits for the task token, at most %s, then goes to %s', (name, phase, timeoutPath, onTimeout) => {
    expect(states[name]).toMatchObject({
      Type: 'Task',
      Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
      Parameters: {
        FunctionName: placeholderFunctionArn('request-review'),
        Payload: { 'taskToken.$': '$$.Task.Token', phase, 'request.$': '$$.Execution.Input' },
      },
      TimeoutSecondsPath: timeoutPath,
      ResultPath: '$.result',
      Next: WORKFLOW_STATES.recordApproved,
      Catch: [
        // A timeout passes the input on unchanged.
        { ErrorEquals: ['States.Timeout'], ResultPath: null, Next: onTimeout },
        { ErrorEquals: [REJECTED_ERROR], ResultPath: '$.error', Next: WORKFLOW_STATES.recordRejected },
        { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: WORKFLOW_STATES.recordFailed },
      ],
    });
    expect(states[name]).not.toHaveProperty('TimeoutSeconds');
    expect(Object.keys((states[name]!.Parameters as { Payload: Json }).Payload).sort()).toEqual(['phase', 'request.$', 'taskToken.$']);
  });

  it.each(REVIEW_STATES)('%s retries a failed posting with backoff, bounded, but never a deny, a closed review or a timeout', (name) => {
    const retry = states[name]!.Retry!;
    // Retriers are matched in order: the first names Rejected and ReviewClosed and never retries them.
    expect(retry[0]).toEqual({ ErrorEquals: [REJECTED_ERROR, REVIEW_CLOSED_ERROR], MaxAttempts: 0 });
    expect(retry.slice(1).map((r) => r.ErrorEquals)).toEqual([[...LAMBDA_SERVICE_ERRORS], ['States.TaskFailed']]);
    for (const retrier of retry.slice(1)) {
      expect(retrier.MaxAttempts).toBeGreaterThanOrEqual(3);
      expect(retrier.MaxAttempts).toBeLessThanOrEqual(6);
      expect(retrier.BackoffRate).toBe(2);
      expect(retrier.MaxDelaySeconds).toBeLessThanOrEqual(300);
    }
    // States.ALL or States.Timeout in a retrier would re-post on a timeout and re-open a denied review.
    // (States.TaskFailed matches every task error except States.Timeout.)
    expect(retry.flatMap((r) => r.ErrorEquals)).not.toContain('States.ALL');
    expect(retry.flatMap((r) => r.ErrorEquals)).not.toContain('States.Timeout');
  });

  it('escalates at the deadline only when the policy names a group', () => {
    expect(states[WORKFLOW_STATES.hasEscalation]).toEqual({
      Type: 'Choice',
      Choices: [{ Variable: '$.approval.escalate', IsPresent: true, Next: WORKFLOW_STATES.escalateReview }],
      Default: WORKFLOW_STATES.recordExpired,
    });
  });

  it.each(RECORD_STATES)('%s records the outcome %s with the original request', (name, outcome, extra) => {
    expect(states[name]).toEqual({
      Type: 'Task',
      Resource: 'arn:aws:states:::lambda:invoke',
      Parameters: { FunctionName: placeholderFunctionArn('record-outcome'), Payload: { 'request.$': '$$.Execution.Input', outcome, ...extra } },
      ...(KEEPS_RESULT[name] ?? { ResultPath: null }),
      TimeoutSeconds: 120,
      Retry: [
        expect.objectContaining({ ErrorEquals: [...LAMBDA_SERVICE_ERRORS], MaxAttempts: 10, BackoffRate: 2, MaxDelaySeconds: 300 }),
        // About 75 minutes of retries: recording outlasts an outage of DynamoDB or EventBridge.
        expect.objectContaining({ ErrorEquals: ['States.TaskFailed'], MaxAttempts: 20, BackoffRate: 2, MaxDelaySeconds: 300 }),
      ],
      // No Catch: an outcome that cannot be recorded fails the execution, and FailedAlarm fires.
      ...(name === WORKFLOW_STATES.recordApproved ? { Next: WORKFLOW_STATES.hasApprovalWindow } : { End: true }),
    });
  });

  it('ends every path in a Record state, and no state waits without a timeout', () => {
    const successors = (state: State) => [state.Next, state.Default, ...(state.Choices ?? []).map((c) => c.Next), ...(state.Catch ?? []).map((c) => c.Next)].filter((n): n is string => n !== undefined);
    const reachable = new Set<string>();
    const visit = (name: string) => {
      if (reachable.has(name)) return;
      reachable.add(name);
      expect(states[name], `state ${name}`).toBeDefined();
      successors(states[name]!).forEach(visit);
    };
    visit(definition.StartAt);
    expect([...reachable].sort()).toEqual(Object.keys(states).sort());

    const terminal = Object.entries(states).filter(([, state]) => state.End === true || state.Type === 'Succeed' || state.Type === 'Fail');
    // Every Record state ends the execution, except RecordApproved: after it, the approval's window.
    const ends = [...RECORD_STATES.map(([name]) => name).filter((name) => name !== WORKFLOW_STATES.recordApproved), WORKFLOW_STATES.approvalRecorded];
    expect(terminal.map(([name]) => name).sort()).toEqual(ends.sort());
    for (const [name, state] of Object.entries(states)) {
      if (state.Type === 'Task') expect(state.TimeoutSeconds ?? state.TimeoutSecondsPath, `${name} timeout`).toBeDefined();
      // No Pass, Parallel or Map; the one Wait waits for a time record-outcome gave (at most a day after the approval).
      if (state.Type === 'Wait') expect(state, name).toMatchObject({ TimestampPath: '$.recorded.validUntil', Next: WORKFLOW_STATES.closeApprovalWindow });
      else expect(['Task', 'Choice', 'Succeed'], name).toContain(state.Type);
    }
  });

  it('after an approval, waits for its validUntil only when record-outcome gave one, then closes the window', () => {
    expect(states[WORKFLOW_STATES.recordApproved]?.Next).toBe(WORKFLOW_STATES.hasApprovalWindow);
    expect(states[WORKFLOW_STATES.hasApprovalWindow]).toEqual({
      Type: 'Choice',
      Choices: [{
        And: [{ Variable: '$.recorded.validUntil', IsPresent: true }, { Variable: '$.recorded.validUntil', IsString: true }],
        Next: WORKFLOW_STATES.waitForApprovalWindow,
      }],
      Default: WORKFLOW_STATES.approvalRecorded,
    });
  });

  it('has a backstop execution timeout beyond the longest review (1.5 x 7 days), and refuses a shorter one', () => {
    expect(definition.TimeoutSeconds).toBe(14 * 24 * 3600);
    const app = new App();
    const s = new Stack(app, 'S');
    const fn = (id: string) => new LambdaFunction(s, id, { runtime: Runtime.NODEJS_22_X, handler: 'index.handler', code: Code.fromInline('export const handler = () => {}') });
    expect(() => new ApprovalWorkflow(s, 'Short', { requestReview: fn('A'), recordOutcome: fn('B'), executionTimeout: Duration.days(10) })).toThrow(
      /executionTimeout \(10 days\) must exceed the longest review/,
    );
  });

  it('alarms on failed and on timed-out executions', () => {
    for (const metric of ['ExecutionsFailed', 'ExecutionsTimedOut']) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/States',
        MetricName: metric,
        Dimensions: [{ Name: 'StateMachineArn', Value: { Ref: stateMachineId } }],
        Statistic: 'Sum',
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
      });
    }
  });
});

describe('Slack reviews', () => {
  const urls = Object.values(template.findResources('AWS::Lambda::Url') as Resources);
  const urlOf = (service: string) => urls.filter((url) => JSON.stringify(url.Properties?.TargetFunctionArn) === JSON.stringify({ 'Fn::GetAtt': [functionByService(service)[0], 'Arn'] }));

  it('puts slack-interactions and teams-interactions behind Function URLs with auth NONE (Slack signs, the Bot Framework sends a JWT), review-api, decision-api and issue-credentials with AWS_IAM', () => {
    expect(urls).toHaveLength(5);
    expect(urlOf('issue-credentials').map((u) => u.Properties?.AuthType)).toEqual(['AWS_IAM']);
    expect(urlOf('slack-interactions').map((u) => u.Properties?.AuthType)).toEqual(['NONE']);
    expect(urlOf('teams-interactions').map((u) => u.Properties?.AuthType)).toEqual(['NONE']);
    expect(urlOf('review-api').map((u) => u.Properties?.AuthType)).toEqual(['AWS_IAM']);
    expect(urlOf('decision-api').map((u) => u.Properties?.AuthType)).toEqual(['AWS_IAM']);
  });

  it('lets the public invoke slack-interactions and teams-interactions through their URLs only, and nothing else', () => {
    const publicPermissions = Object.values(template.findResources('AWS::Lambda::Permission') as Resources).filter((p) => p.Properties?.Principal === '*');
    for (const service of ['slack-interactions', 'teams-interactions']) {
      const interactionsArn = { 'Fn::GetAtt': [functionByService(service)[0], 'Arn'] };
      expect(publicPermissions.map((p) => p.Properties)).toEqual(
        expect.arrayContaining([
          { Action: 'lambda:InvokeFunctionUrl', FunctionName: interactionsArn, FunctionUrlAuthType: 'NONE', Principal: '*' },
          { Action: 'lambda:InvokeFunction', FunctionName: interactionsArn, InvokedViaFunctionUrl: true, Principal: '*' },
        ]),
      );
    }
    expect(publicPermissions).toHaveLength(4);
  });

  it('keeps the Teams bot credentials in a retained secret of their own, under its own rotated key, read by every review function', () => {
    const secrets = Object.entries(template.findResources('AWS::SecretsManager::Secret') as Resources);
    const [teamsId, teams] = secrets.find(([, secret]) => /Teams bot/.test(String(secret.Properties?.Description)))!;
    const keyId = (teams!.Properties?.KmsKeyId as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    expect(resources[keyId]).toMatchObject({ Type: 'AWS::KMS::Key', Properties: { EnableKeyRotation: true }, DeletionPolicy: 'Retain' });
    expect(keyId).not.toBe(((secrets.find(([, s]) => /bot token/.test(String(s.Properties?.Description)))![1].Properties?.KmsKeyId) as { 'Fn::GetAtt': [string] })['Fn::GetAtt'][0]);
    expect(teams!.DeletionPolicy).toBe('Retain');
    const generate = teams!.Properties?.GenerateSecretString as { SecretStringTemplate: string; GenerateStringKey: string };
    expect(Object.keys(JSON.parse(generate.SecretStringTemplate)).sort()).toEqual(['appId', 'tenantId']);
    expect(generate.GenerateStringKey).toBe('clientSecret');
    for (const service of ['request-review', 'record-outcome', 'slack-interactions', 'review-api', 'teams-interactions', 'record-execution']) {
      expect(variablesOf(service)[ENV.teamsSecretArn], service).toEqual({ Ref: teamsId });
      expect(variablesOf(service)[ENV.teamsServiceUrl], service).toBe('https://smba.trafficmanager.net/teams/');
    }
    expect(variablesOf('teams-interactions'), 'teams-interactions').not.toHaveProperty(ENV.slackSigningSecretArn);
    for (const service of ['evaluate-action', 'decision-api']) expect(variablesOf(service), service).not.toHaveProperty(ENV.teamsSecretArn);
  });

  it('keeps the bot token and the signing secret in two retained secrets, under their own rotated key, created with placeholders', () => {
    const secrets = Object.entries(template.findResources('AWS::SecretsManager::Secret') as Resources).filter(([, secret]) => /Slack/.test(String(secret.Properties?.Description)));
    expect(secrets).toHaveLength(2);
    const byDescription = (pattern: RegExp) => secrets.find(([, secret]) => pattern.test(String(secret.Properties?.Description)))!;
    const [botTokenId, botToken] = byDescription(/bot token/);
    const [signingId, signing] = byDescription(/signing secret/);
    for (const secret of [botToken, signing]) {
      const keyId = (secret!.Properties?.KmsKeyId as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
      expect(resources[keyId]).toMatchObject({ Type: 'AWS::KMS::Key', Properties: { EnableKeyRotation: true }, DeletionPolicy: 'Retain' });
      expect(secret!.DeletionPolicy).toBe('Retain');
      expect(secret!.Properties?.Description).toMatch(/put-secret-value/);
    }
    // The bot token starts as a named placeholder; the signing secret as a random value no Slack request matches.
    expect(JSON.parse(String(botToken!.Properties?.SecretString))).toEqual({ botToken: 'xoxb-replace-with-the-bot-token' });
    const generate = signing!.Properties?.GenerateSecretString as { SecretStringTemplate: string; GenerateStringKey: string; PasswordLength: number };
    expect(JSON.parse(generate.SecretStringTemplate)).toEqual({});
    expect(generate.GenerateStringKey).toBe('signingSecret');
    expect(generate.PasswordLength).toBeGreaterThanOrEqual(32);
    for (const service of ['request-review', 'record-outcome', 'slack-interactions', 'review-api', 'teams-interactions']) {
      expect(variablesOf(service)[ENV.slackBotTokenSecretArn], service).toEqual({ Ref: botTokenId });
    }
    // Only the function that verifies Slack's requests knows where the signing secret is.
    expect(variablesOf('slack-interactions')[ENV.slackSigningSecretArn]).toEqual({ Ref: signingId });
    for (const service of ['request-review', 'record-outcome', 'review-api', 'evaluate-action', 'decision-api']) {
      expect(variablesOf(service), service).not.toHaveProperty(ENV.slackSigningSecretArn);
    }
    for (const service of ['evaluate-action', 'decision-api']) expect(variablesOf(service), service).not.toHaveProperty(ENV.slackBotTokenSecretArn);
  });

  it('tells the review functions the table and the bundled directory, and record-outcome the bus', () => {
    const tableId = Object.keys(template.findResources('AWS::DynamoDB::Table'))[0]!;
    for (const service of ['request-review', 'record-outcome', 'slack-interactions', 'review-api']) {
      expect(variablesOf(service), service).toMatchObject({ [ENV.tableName]: { Ref: tableId }, [ENV.directoryFile]: '/var/task/config/directory.json' });
    }
    const busId = Object.keys(template.findResources('AWS::Events::EventBus'))[0]!;
    expect(variablesOf('record-outcome')[ENV.eventBusName]).toEqual({ Ref: busId });
    for (const service of ['request-review', 'slack-interactions', 'review-api']) expect(variablesOf(service), service).not.toHaveProperty(ENV.eventBusName);
  });

  it('gives slack-interactions room to answer Slack within 3 seconds from a cold start', () => {
    expect(functionByService('slack-interactions')[1].Properties).toMatchObject({ MemorySize: 1024 });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ POWERTOOLS_SERVICE_NAME: 'request-review' }) },
      Timeout: 30,
    });
  });
});

describe('approver directory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'countersign-directory-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  // The shipped directory with one more security reviewer.
  const shipped = JSON.parse(readFileSync(join(PROJECT_ROOT, 'config', 'directory.json'), 'utf8')) as { members: Json[]; groups: Record<string, { members: string[] }> };
  const valid = {
    ...shipped,
    members: [...shipped.members, { id: 'ada', slackUserId: 'U0ADA', email: 'ada@example.com' }],
    groups: { ...shipped.groups, security: { ...shipped.groups.security, members: [...shipped.groups.security!.members, 'ada'] } },
  };
  const file = (name: string, content: string) => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };

  it('takes another file as a prop and points the functions at its bundled copy', () => {
    const { stack, template: t } = synth({ directoryFile: file('acme-directory.json', JSON.stringify(valid)) });
    expect(stack.reviews.directory.member('ada')?.slackUserId).toBe('U0ADA');
    t.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ POWERTOOLS_SERVICE_NAME: 'slack-interactions', [ENV.directoryFile]: '/var/task/config/acme-directory.json' }) },
    });
  });

  it.each([
    ['a group member who is not in the directory', JSON.stringify({ ...valid, groups: { ...valid.groups, security: { members: ['mallory'], channel: { id: 'C0SEC', name: 'x' } } } }), /groups\.security\.members: "mallory" is not a member/],
    ['a bad Slack user id', JSON.stringify({ ...valid, members: [{ ...valid.members[0], slackUserId: 'alice' }, ...valid.members.slice(1)] }), /members\.0\.slackUserId: must be a Slack user id/],
    ['text that is not JSON', '{ "slack": ', /is not JSON/],
  ])('fails the synth on %s, naming the file and the problem', (_case, content, message) => {
    const path = file('broken.json', content);
    expect(() => synth({ directoryFile: path })).toThrow(message);
    expect(() => synth({ directoryFile: path })).toThrow(path);
  });

  it('fails the synth when a group the policies name is missing, naming the policy and the annotation', () => {
    const groups: Record<string, unknown> = { ...valid.groups };
    delete groups['security-leads'];
    const path = file('no-leads.json', JSON.stringify({ ...valid, groups }));
    expect(() => synth({ directoryFile: path })).toThrow(/lacks groups the policies need: policy iam-policy-update-prod-needs-two-security names group "security-leads" in @escalate/);
  });

  it('fails the synth when the file is missing, saying how to pass another', () => {
    expect(() => synth({ directoryFile: join(dir, 'missing.json') })).toThrow(/cannot read the approver directory .*missing\.json.*-c directory=/);
  });
});
