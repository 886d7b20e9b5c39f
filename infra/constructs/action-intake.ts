import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { Aws, Duration, Lazy, RemovalPolicy } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Archive, CfnEventBus, EventBus, Rule, type EventPattern, type IEventBus } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { AccountRootPrincipal, AnyPrincipal, Effect, PolicyDocument, PolicyStatement, ServicePrincipal, type IRole } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Queue, QueueEncryption, type IQueue } from 'aws-cdk-lib/aws-sqs';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { ENV } from '../../shared/config.js';
import { DECIDED_SOURCE, DETAIL_TYPE_DECIDED } from '../../shared/domain/contract.js';
import { loadShadowSource, SHADOW_DIR } from '../../shared/policy/shadow-policies.js';
import { preparePolicies } from '../../shared/policy/cedar-policy-engine.js';
import { loadPolicySource, PolicyLoadError, type PolicySource } from '../../shared/policy/load-policies.js';
import { PREPARED_POLICIES_FILE, type PreparedPolicies } from '../../shared/policy/prepared-policies.js';
import { ACTION_REQUESTED_PATTERN } from '../../shared/store-schema.js';
import { grantItems } from './decision-store.js';
import { HouseFunction, PROJECT_ROOT, type BundledFile, type PowertoolsLogLevel } from './house-function.js';

/** Where the policies sit inside the evaluate-action bundle; `/var/task` is the bundle root in Lambda. */
export const BUNDLED_POLICY_DIR = 'policies';
const LAMBDA_TASK_ROOT = '/var/task';
const CEDAR_SCHEMA_FILE = 'schema.cedarschema';

export interface ActionIntakeProps {
  /** The decision table; its encryption key, if any, is granted for kms:Decrypt. */
  readonly table: ITable;
  /**
   * The approval workflow. When given, evaluate-action may start executions of it (and only that) and learns
   * its ARN from `COUNTERSIGN_APPROVAL_STATE_MACHINE_ARN`.
   * @default - none: requests that need approval stay `pending`
   */
  readonly approvalStateMachine?: IStateMachine;
  /**
   * How long the archive keeps `Action Requested` events for replay (whole days).
   * @default Duration.days(365)
   */
  readonly archiveRetention?: Duration;
  /**
   * How often EventBridge retries delivering an event to evaluate-action (0–185).
   * @default 10
   */
  readonly retryAttempts?: number;
  /**
   * How long an event may wait for delivery, and how long Lambda keeps retrying a failed asynchronous
   * invocation, before it goes to the dead-letter queue (1 minute to 6 hours).
   * @default Duration.hours(1)
   */
  readonly maxEventAge?: Duration;
  /**
   * The directory with the Cedar policies (`*.cedar`) and `schema.cedarschema`, copied into the bundle.
   * @default - `policies/` at the project root
   */
  readonly policyDir?: string;
  /**
   * Flood control (issue 16): the approver directory (its `floodControl` limits and agents) bundled with
   * evaluate-action. A burst is announced on this bus (`Agent Requests Limited`), never posted from here:
   * evaluate-action holds no chat credentials (`ExecutionReports` posts the line).
   * @default - the project's config/directory.json
   */
  readonly floodControl?: { directory: { environment: Record<string, string>; file: BundledFile } };
  /** @default - the house default */
  readonly logRetention?: RetentionDays;
  /** @default - the house default */
  readonly logLevel?: PowertoolsLogLevel;
}

/**
 * The way in: the Countersign event bus, an archive of `Action Requested` events for replay, the rule that
 * hands them to evaluate-action, and a dead-letter queue for the events that infrastructure failures keep
 * from being decided (bad input is decided `invalid`, never dead-lettered).
 *
 * The bus policy:
 * - lets principals of this account put events (IAM still decides which: an agent role should allow
 *   `events:PutEvents` on this bus with `"Condition": {"StringEquals": {"events:source": "agent.<id>"}}`,
 *   the identity decision 1 of DESIGN.md stands on);
 * - denies every other account;
 * - denies `source: countersign` and `detail-type: Action Decided` to everyone except the decision
 *   publishers (evaluate-action, plus any role passed to `addDecisionPublisher`), so nobody can forge a
 *   decision that executors would act on.
 */
export class ActionIntake extends Construct {
  readonly eventBus: IEventBus;
  /** The bus's one resource policy (see the class comment); decision publishers are added to it lazily. */
  readonly busPolicy: PolicyDocument;
  readonly archive: Archive;
  readonly rule: Rule;
  readonly deadLetterQueue: IQueue;
  readonly evaluateAction: HouseFunction;
  /** Fires when anything lands in the dead-letter queue. No action yet: attach SNS/chat in a later issue. */
  readonly deadLetterAlarm: Alarm;
  /** Fires when evaluate-action fails (it never fails on bad input, so this is always infrastructure). */
  readonly evaluateErrorsAlarm: Alarm;

  private readonly decisionPublisherArns: string[] = [];

  constructor(scope: Construct, id: string, props: ActionIntakeProps) {
    super(scope, id);
    const archiveRetention = props.archiveRetention ?? Duration.days(365);
    const retryAttempts = props.retryAttempts ?? 10;
    const maxEventAge = props.maxEventAge ?? Duration.hours(1);
    validate(id, archiveRetention, retryAttempts, maxEventAge);
    const directory = props.floodControl?.directory ?? {
      environment: { [ENV.directoryFile]: `${LAMBDA_TASK_ROOT}/config/directory.json` },
      file: { source: join(PROJECT_ROOT, 'config', 'directory.json'), targetDir: 'config' },
    };
    const policyDir = props.policyDir ?? join(PROJECT_ROOT, 'policies');
    const bundledFiles = [...policyFiles(policyDir), preparedPoliciesFile(this, policyDir), cedarWasmFile(), directory.file];

    // The bus carries its whole policy as one document (the AWS::Events::EventBus `Policy` property), not as
    // AWS::Events::EventBusPolicy resources: CloudFormation takes their StatementIds as unique in the account
    // and region (a second stage in the same account failed to deploy), and several of them edit one policy
    // with no ordering, so a lost statement could silently drop the anti-forgery deny. The policy names the
    // bus by an ARN built from its name, because a resource cannot reference its own attributes; the name is
    // the stack's name, unique in the account and region.
    const busName = `${Aws.STACK_NAME}-bus`;
    const busArn = `arn:${Aws.PARTITION}:events:${Aws.REGION}:${Aws.ACCOUNT_ID}:event-bus/${busName}`;
    const bus = new EventBus(this, 'Bus', { eventBusName: busName, description: 'Countersign: agents request actions here, decisions are announced here' });
    this.eventBus = bus;
    this.busPolicy = busPolicy(busArn, Lazy.list({ produce: () => this.decisionPublisherArns }));
    (bus.node.defaultChild as CfnEventBus).policy = this.busPolicy;

    const eventPattern = actionRequestedPattern();
    this.archive = new Archive(this, 'RequestArchive', {
      sourceEventBus: bus,
      eventPattern,
      retention: archiveRetention,
      description: 'Action Requested events, for replay',
    });

    const deadLetterKey = new Key(this, 'DeadLetterKey', {
      description: 'Countersign dead-letter queue of Action Requested and Action Executed events',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // EventBridge (as events.amazonaws.com, not as a role) sends undeliverable events to the queue, so the key
    // policy must let it encrypt with the key: only for rules on this bus, in this account.
    deadLetterKey.addToResourcePolicy(
      new PolicyStatement({
        sid: 'EventBridgeRulesOfThisBusMayUseTheKey',
        principals: [new ServicePrincipal('events.amazonaws.com')],
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resources: ['*'],
        conditions: {
          StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
          ArnLike: { 'aws:SourceArn': `arn:${Aws.PARTITION}:events:${Aws.REGION}:${Aws.ACCOUNT_ID}:rule/${bus.eventBusName}/*` },
        },
      }),
    );
    const deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      encryption: QueueEncryption.KMS,
      encryptionMasterKey: deadLetterKey,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.deadLetterQueue = deadLetterQueue;

    const environment: Record<string, string> = {
      [ENV.tableName]: props.table.tableName,
      [ENV.eventBusName]: bus.eventBusName,
      [ENV.policyDir]: `${LAMBDA_TASK_ROOT}/${BUNDLED_POLICY_DIR}`,
      ...directory.environment,
    };
    if (props.approvalStateMachine) {
      environment[ENV.approvalStateMachineArn] = props.approvalStateMachine.stateMachineArn;
    }
    this.evaluateAction = new HouseFunction(this, 'EvaluateAction', {
      entry: 'functions/evaluate-action/handler.ts',
      serviceName: 'evaluate-action',
      description: 'Countersign: decides an Action Requested event with the Cedar policies and records it',
      // An invocation is I/O (a GetItem, two PutItems, a PutEvents) around about a millisecond of CPU, so
      // memory is mostly what the duration is billed at: 512 MB, not the 1,024 chosen earlier for the CPU
      // of the cold start (compiling Cedar's wasm), which on-demand functions get unthrottled by AWS's own
      // guides (the developer guide does not say: README, design notes). `npm run bench` prices it.
      memorySize: 512,
      timeout: Duration.seconds(30),
      environment,
      bundledFiles,
      deadLetterQueue,
      retryAttempts: 2,
      maxEventAge,
      logRetention: props.logRetention,
      logLevel: props.logLevel,
    });
    const fn = this.evaluateAction.function;

    // Exactly the item operations the handler makes (DynamoDecisionStore): conditional PutItems of the request
    // item and its decided event, a conflict's refusal as a transaction of a Put and an Update of the request's
    // eventSeq, GetItem to look at an earlier request. IAM authorizes a TransactWriteItems call item by item
    // (each Put as dynamodb:PutItem, each Update as dynamodb:UpdateItem); "dynamodb:TransactWriteItems" is not
    // an IAM action, and the transaction has no ConditionCheck items.
    // Query: a conflict on a request recorded before event numbering existed counts its events once.
    grantItems(props.table, fn, ['requests'], 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:GetItem', 'dynamodb:Query');
    // Flood control (DynamoAgentGuard): GetItem of the agent's state and of a payload's slot, then one transaction
    // of an Update (state: bucket, open count) and a Put (the slot), or an UpdateItem for a burst; a request refused
    // as a conflict (its actionId already another payload's) gives back the slot it took: a conditional Delete and an Update.
    grantItems(props.table, fn, ['agents'], 'dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem');
    // DynamoDB decrypts the table key with the caller's credentials; it generates data keys itself, under its
    // own grant, so callers need kms:Decrypt only.
    props.table.encryptionKey?.grant(fn, 'kms:Decrypt');
    bus.grantPutEventsTo(fn);
    this.decisionPublisherArns.push(this.evaluateAction.role.roleArn);
    props.approvalStateMachine?.grantStartExecution(fn);

    this.rule = new Rule(this, 'ActionRequestedRule', {
      eventBus: bus,
      eventPattern,
      description: 'Action Requested from agents, to evaluate-action',
    });
    this.rule.addTarget(new LambdaFunction(fn, { retryAttempts, maxEventAge, deadLetterQueue }));

    this.deadLetterAlarm = new Alarm(this, 'DeadLetterAlarm', {
      alarmDescription: 'Countersign: Action Requested, Action Executed or Agent Requests Limited events reached the dead-letter queue (infrastructure failure); inspect and redrive them',
      metric: deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.evaluateErrorsAlarm = new Alarm(this, 'EvaluateErrorsAlarm', {
      alarmDescription: 'Countersign: evaluate-action failed (bad input never fails it, so this is infrastructure); see its logs',
      metric: fn.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
  }

  /**
   * Lets another role (e.g. the approval workflow's outcome step) publish `Action Decided` events: grants
   * `events:PutEvents` on the bus and exempts the role from the bus policy's anti-forgery denies.
   */
  addDecisionPublisher(role: IRole): void {
    this.eventBus.grantPutEventsTo(role);
    this.decisionPublisherArns.push(role.roleArn);
  }
}

/**
 * The bus policy: this account may put events, no other account may, and only the decision publishers may send
 * `source: countersign` or `detail-type: Action Decided`.
 */
function busPolicy(busArn: string, publishers: string[]): PolicyDocument {
  const anyoneButPublishers = (sid: string, condition: Record<string, string>) => new PolicyStatement({
    sid,
    effect: Effect.DENY,
    principals: [new AnyPrincipal()],
    actions: ['events:PutEvents'],
    resources: [busArn],
    conditions: { StringEquals: condition, ArnNotEquals: { 'aws:PrincipalArn': publishers } },
  });
  return new PolicyDocument({
    statements: [
      new PolicyStatement({
        sid: 'ThisAccountMayPutEvents',
        principals: [new AccountRootPrincipal()],
        actions: ['events:PutEvents'],
        resources: [busArn],
      }),
      new PolicyStatement({
        sid: 'NoOtherAccountMayPutEvents',
        effect: Effect.DENY,
        principals: [new AnyPrincipal()],
        actions: ['events:PutEvents'],
        resources: [busArn],
        conditions: { StringNotEqualsIfExists: { 'aws:PrincipalAccount': Aws.ACCOUNT_ID } },
      }),
      anyoneButPublishers('OnlyPublishersSendDecisionSource', { 'events:source': DECIDED_SOURCE }),
      anyoneButPublishers('OnlyPublishersSendDecisions', { 'events:detail-type': DETAIL_TYPE_DECIDED }),
    ],
  });
}

function validate(id: string, archiveRetention: Duration, retryAttempts: number, maxEventAge: Duration): void {
  const days = archiveRetention.toHours() / 24;
  if (!Number.isInteger(days) || days < 1) {
    throw new Error(`ActionIntake ${id}: archiveRetention must be a whole number of days, at least 1 (got ${archiveRetention.toHumanString()})`);
  }
  if (!Number.isInteger(retryAttempts) || retryAttempts < 0 || retryAttempts > 185) {
    throw new Error(`ActionIntake ${id}: retryAttempts must be an integer from 0 to 185 (got ${retryAttempts})`);
  }
  const seconds = maxEventAge.toSeconds();
  if (seconds < 60 || seconds > 6 * 3600) {
    throw new Error(`ActionIntake ${id}: maxEventAge must be from 1 minute to 6 hours, the range both EventBridge and Lambda accept (got ${maxEventAge.toHumanString()})`);
  }
}

/** ACTION_REQUESTED_PATTERN (the local stack's pattern too) in the CDK's spelling. */
function actionRequestedPattern(): EventPattern {
  return {
    detailType: [...ACTION_REQUESTED_PATTERN['detail-type']],
    // CDK passes content filters ({prefix: ...}) through as they are; its typings only know strings.
    source: ACTION_REQUESTED_PATTERN.source.map((filter) => ({ ...filter })) as unknown as string[],
  };
}

function policyFiles(policyDir: string): BundledFile[] {
  const dir = isAbsolute(policyDir) ? policyDir : resolve(PROJECT_ROOT, policyDir);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    throw new Error(`ActionIntake: cannot read the policy directory ${dir}: ${(error as Error).message}`);
  }
  const policies = names.filter((name) => name.endsWith('.cedar')).sort();
  if (policies.length === 0) {
    throw new Error(`ActionIntake: ${dir} has no *.cedar policy files; evaluate-action would deny everything`);
  }
  if (!names.includes(CEDAR_SCHEMA_FILE)) {
    throw new Error(`ActionIntake: ${dir} has no ${CEDAR_SCHEMA_FILE}; policies are validated against it`);
  }
  return [
    ...[...policies, CEDAR_SCHEMA_FILE].map((name) => ({ source: join(dir, name), targetDir: BUNDLED_POLICY_DIR })),
    ...shadowPolicyFiles(dir),
  ];
}

/**
 * The shadow set (`<policyDir>/shadow/*.cedar`, evaluated beside the enforced set and only recorded), bundled
 * into `policies/shadow/`. Validated here, at synth, as the whole set evaluate-action will build from it
 * (the enforced files with the shadow files laid over them): a shadow set that cannot load would fail
 * every cold start of the function, so it fails the synth instead.
 */
function shadowPolicyFiles(dir: string): BundledFile[] {
  const source = loadShadowSource(dir);
  if (source === undefined) return [];
  // Prepared from the sources here, never from a prepared file lying in the source folder.
  const prepared = preparedShadowSet(dir, source);
  const prefix = `${SHADOW_DIR}/`;
  const targetDir = `${BUNDLED_POLICY_DIR}/${SHADOW_DIR}`;
  return [
    ...source.policies.filter((file) => file.file.startsWith(prefix)).map((file) => ({ source: join(dir, file.file), targetDir })),
    // Its prepared form too, so the cold start parses and validates neither set.
    ...(prepared === undefined ? [] : [{ source: writePrepared(prepared), targetDir }]),
  ];
}

function preparedShadowSet(dir: string, source: PolicySource): PreparedPolicies {
  try {
    return preparePolicies(source, dir);
  } catch (error) {
    if (!(error instanceof PolicyLoadError)) throw error;
    throw new PolicyLoadError(`the shadow set of ${dir} (its ${SHADOW_DIR}/ files laid over the enforced ones)`, error.problems);
  }
}

/**
 * The policies parsed and validated now, at synth (a broken policy fails the synth), written as the
 * prepared form evaluate-action loads at cold start instead of parsing and validating them in Cedar's wasm.
 * The file goes to a folder named by the hash of its content, and from there into the bundle beside the
 * sources it was made from (the function checks it against them when it loads).
 */
function preparedPoliciesFile(scope: Construct, policyDir: string): BundledFile {
  const dir = isAbsolute(policyDir) ? policyDir : resolve(PROJECT_ROOT, policyDir);
  return { source: writePrepared(preparePolicies(loadPolicySource(dir), dir)), targetDir: BUNDLED_POLICY_DIR };
}

/** Writes a prepared form where the bundling copies it from, and returns that path. */
function writePrepared(prepared: PreparedPolicies): string {
  const text = `${JSON.stringify(prepared)}\n`;
  // A path that depends only on the content: the copy command is part of the bundling options the asset hash
  // is taken over, so a path inside a per-synth directory (the cloud assembly's) would change the template
  // from one synth to the next. Written to a unique name and renamed, so two synths at once never read half.
  const folder = join(PROJECT_ROOT, 'node_modules', '.cache', 'countersign-prepared-policies', createHash('sha256').update(text).digest('hex').slice(0, 16));
  mkdirSync(folder, { recursive: true });
  const target = join(folder, PREPARED_POLICIES_FILE);
  const partial = `${target}.${process.pid}.${randomUUID()}.partial`;
  writeFileSync(partial, text);
  renameSync(partial, target);
  return target;
}

/**
 * cedar-wasm's Node build is CommonJS that reads `${__dirname}/cedar_wasm_bg.wasm` when it loads. esbuild
 * inlines the JavaScript but not the binary, so the binary goes next to the bundled index.mjs.
 */
function cedarWasmFile(): BundledFile {
  const require = createRequire(import.meta.url);
  const nodeBuild = require.resolve('@cedar-policy/cedar-wasm/nodejs');
  return { source: join(dirname(nodeBuild), 'cedar_wasm_bg.wasm'), targetDir: '' };
}
