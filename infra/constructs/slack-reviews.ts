import { readFileSync } from 'node:fs';
import { basename, isAbsolute, posix, resolve } from 'node:path';
import { Aws, Duration, RemovalPolicy, SecretValue, Validations } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Policy, PolicyStatement, type Grant, type IGrantable, type IRole } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { FunctionUrlAuthType, type FunctionUrl } from 'aws-cdk-lib/aws-lambda';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { ENV } from '../../shared/config.js';
import { Directory } from '../../shared/domain/directory.js';
import type { ActionIntake } from './action-intake.js';
import { grantItems } from './decision-store.js';
import { HouseFunction, PROJECT_ROOT, type PowertoolsLogLevel } from './house-function.js';

/** Where the approver directory sits inside a bundle; `/var/task` is the bundle root in Lambda. */
export const BUNDLED_CONFIG_DIR = 'config';
/** Where Lambda unpacks a function's bundle. */
export const LAMBDA_TASK_ROOT = '/var/task';

/** The item operations the review functions make on the decision table (see the least-privilege test). */
export const REVIEW_TABLE_ACTIONS = ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query'] as const;
/** How a waiting approval is resumed. Neither action supports resource-level permissions (the token is the capability). */
export const TASK_CALLBACK_ACTIONS = ['states:SendTaskSuccess', 'states:SendTaskFailure'] as const;

export interface SlackReviewsProps {
  /** The decision table; its encryption key, if any, is granted for kms:Decrypt. */
  readonly table: ITable;
  /**
   * The approver directory (groups, members, channels, agent owners; see `shared/domain/directory.ts`),
   * absolute or relative to the project root. It is validated at synth (a broken directory fails the
   * synth) and bundled into each function that reads it, at `/var/task/config/<file name>`.
   * @default - `config/directory.json` at the project root
   */
  readonly directoryFile?: string;
  /** @default - the house default */
  readonly logRetention?: RetentionDays;
  /** @default - the house default */
  readonly logLevel?: PowertoolsLogLevel;
}

/**
 * Reviews in Slack and by API:
 * - request-review: posts the review message (invoked by the workflow with `.waitForTaskToken`) and keeps the
 *   task token server-side;
 * - record-outcome: writes the outcome, publishes `Action Decided` (once `connectDecisionBus` is called),
 *   updates the Slack message;
 * - slack-interactions, behind a Function URL with auth NONE: Slack cannot sign requests with SigV4, it signs
 *   them with the app's signing secret (`X-Slack-Signature`, HMAC-SHA256 over timestamp and raw body), and
 *   the handler refuses anything unsigned, badly signed or stale before it reads a field. An IAM-authenticated
 *   URL would refuse every Slack request; API Gateway in front would add nothing the signature check does not;
 * - review-api, behind a Function URL with AWS_IAM auth: CI pipelines vote with SigV4, and the caller's IAM
 *   principal is mapped to a reviewer in the directory;
 * - the Slack secret (`{"botToken", "signingSecret"}`), created with placeholders for the operator to replace.
 *
 * Only slack-interactions and review-api may call `states:SendTaskSuccess/SendTaskFailure` (DESIGN.md 1).
 */
export class SlackReviews extends Construct {
  readonly requestReview: HouseFunction;
  readonly recordOutcome: HouseFunction;
  readonly slackInteractions: HouseFunction;
  readonly reviewApi: HouseFunction;
  readonly slackInteractionsUrl: FunctionUrl;
  readonly reviewApiUrl: FunctionUrl;
  /** JSON `{"botToken": "xoxb-..."}`; the operator puts the real value after the first deploy. Read by every review function. */
  readonly slackBotTokenSecret: Secret;
  /** JSON `{"signingSecret": "..."}`; the operator puts the real value after the first deploy. Read by slack-interactions only. */
  readonly slackSigningSecret: Secret;
  /** The customer-managed key of both Slack secrets. */
  readonly slackSecretKey: Key;
  /** The validated approver directory that was bundled, and its file. */
  readonly directory: Directory;
  readonly directoryFile: string;

  private decisionBusConnected = false;

  constructor(scope: Construct, id: string, props: SlackReviewsProps) {
    super(scope, id);
    const directoryFile = absolute(props.directoryFile ?? 'config/directory.json');
    this.directoryFile = directoryFile;
    this.directory = loadDirectory(id, directoryFile);
    const bundledDirectory = { source: directoryFile, targetDir: BUNDLED_CONFIG_DIR };
    const directoryEnvironment = { [ENV.directoryFile]: posix.join(LAMBDA_TASK_ROOT, BUNDLED_CONFIG_DIR, basename(directoryFile)) };

    // A key of our own rather than aws/secretsmanager: reading a Slack secret takes both
    // secretsmanager:GetSecretValue on it and kms:Decrypt on this key (granted only through Secrets
    // Manager, only to the functions below), every use is in CloudTrail, and disabling the key cuts both
    // secrets off at once. Retained with the secrets it protects.
    this.slackSecretKey = new Key(this, 'SlackSecretKey', {
      description: 'Countersign Slack app secrets (bot token, signing secret)',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // Two secrets, because they are not equally dangerous: the bot token posts messages, the signing
    // secret lets whoever holds it forge a reviewer's tap. Only slack-interactions may read the second.
    this.slackBotTokenSecret = new Secret(this, 'SlackBotToken', {
      description:
        'Countersign Slack bot token, JSON {"botToken"}. Created with a placeholder: put the real value (Slack app > OAuth & Permissions > ' +
        'Bot User OAuth Token) with `aws secretsmanager put-secret-value`. Functions read it once per cold start.',
      encryptionKey: this.slackSecretKey,
      // A placeholder, not a secret, so it may sit in the template. Changing it later would make
      // CloudFormation write it over the real token.
      secretObjectValue: { botToken: SecretValue.unsafePlainText('xoxb-replace-with-the-bot-token') },
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.slackSigningSecret = new Secret(this, 'SlackSigningSecret', {
      description:
        'Countersign Slack signing secret, JSON {"signingSecret"}. Created with a random value that no Slack request matches: put the real ' +
        'value (Slack app > Basic Information > Signing Secret) with `aws secretsmanager put-secret-value`. Only slack-interactions reads it.',
      encryptionKey: this.slackSecretKey,
      generateSecretString: {
        secretStringTemplate: JSON.stringify({}),
        generateStringKey: 'signingSecret',
        excludePunctuation: true,
        passwordLength: 48,
      },
      removalPolicy: RemovalPolicy.RETAIN,
    });
    for (const secret of [this.slackBotTokenSecret, this.slackSigningSecret]) {
      Validations.of(secret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason: 'The bot token and signing secret are issued and rotated in Slack (app settings), not by a rotation Lambda: Secrets Manager cannot mint them. The operator puts the new values after rotating in Slack.',
      });
    }

    const common = { logRetention: props.logRetention, logLevel: props.logLevel };
    const tableEnvironment = { [ENV.tableName]: props.table.tableName };
    const secretEnvironment = { [ENV.slackBotTokenSecretArn]: this.slackBotTokenSecret.secretArn };

    this.requestReview = new HouseFunction(this, 'RequestReview', {
      entry: 'functions/request-review/handler.ts',
      serviceName: 'request-review',
      description: 'Countersign: posts a review request to the approver group\'s Slack channel and keeps the task token',
      // Slack rate limits are waited out (Retry-After) inside the invocation.
      timeout: Duration.seconds(30),
      environment: { ...tableEnvironment, ...secretEnvironment, ...directoryEnvironment },
      bundledFiles: [bundledDirectory],
      ...common,
    });
    this.recordOutcome = new HouseFunction(this, 'RecordOutcome', {
      entry: 'functions/record-outcome/handler.ts',
      serviceName: 'record-outcome',
      description: 'Countersign: records the outcome of a review, publishes Action Decided, updates the Slack message',
      timeout: Duration.seconds(30),
      environment: { ...tableEnvironment, ...secretEnvironment, ...directoryEnvironment },
      bundledFiles: [bundledDirectory],
      ...common,
    });
    this.slackInteractions = new HouseFunction(this, 'SlackInteractions', {
      entry: 'functions/slack-interactions/handler.ts',
      serviceName: 'slack-interactions',
      description: 'Countersign: Slack button and modal requests (signature-verified): records votes, resumes the workflow',
      // Slack wants an answer within 3 seconds, cold start included: more memory is more CPU.
      memorySize: 1024,
      // ... and no source-map loading on that cold start.
      sourceMaps: false,
      environment: { ...tableEnvironment, ...secretEnvironment, [ENV.slackSigningSecretArn]: this.slackSigningSecret.secretArn, ...directoryEnvironment },
      bundledFiles: [bundledDirectory],
      ...common,
    });
    this.reviewApi = new HouseFunction(this, 'ReviewApi', {
      entry: 'functions/review-api/handler.ts',
      serviceName: 'review-api',
      description: 'Countersign: POST /actions/{actionId}/votes for CI pipelines (AWS_IAM), same rules as Slack',
      environment: { ...tableEnvironment, ...secretEnvironment, ...directoryEnvironment },
      bundledFiles: [bundledDirectory],
      ...common,
    });

    for (const handler of [this.requestReview, this.recordOutcome, this.slackInteractions, this.reviewApi]) {
      // IAM authorizes TransactWriteItems item by item (Put as PutItem, Update as UpdateItem, ConditionCheck
      // as ConditionCheckItem); "dynamodb:TransactWriteItems" is not an IAM action.
      grantItems(props.table, handler.function, ['requests', 'reviews'], ...REVIEW_TABLE_ACTIONS);
      // DynamoDB generates data keys under its own grant; callers need kms:Decrypt only.
      props.table.encryptionKey?.grant(handler.function, 'kms:Decrypt');
    }
    // Every review function talks to Slack (post, thread notes, chat.update, views.open); only
    // slack-interactions verifies signatures, so only it reads the signing secret.
    for (const handler of [this.requestReview, this.recordOutcome, this.slackInteractions, this.reviewApi]) {
      this.grantSlackSecretValue(handler.role, this.slackBotTokenSecret);
    }
    this.grantSlackSecretValue(this.slackInteractions.role, this.slackSigningSecret);
    // Flood control (DynamoAgentGuard): record-outcome gives a request's open-review slot back (a transaction of
    // a conditional Delete of the slot and an Update of the count); slack-interactions ("Block this agent") and
    // the review API (quarantine, lift) also read the agent's state (GetItem, Query) and write the quarantine
    // (Update of the state, Put of its audit event item).
    grantItems(props.table, this.recordOutcome.function, ['agents'], 'dynamodb:DeleteItem', 'dynamodb:UpdateItem');
    for (const handler of [this.slackInteractions, this.reviewApi]) {
      grantItems(props.table, handler.function, ['agents'], 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:Query');
    }
    // Resuming the workflow is reserved to the two ways reviewers vote (the rule; DESIGN.md decision 1
    // keeps it from agents). When a vote closed the request between two phases, request-review fails with
    // ReviewClosed instead (shared/review/open-review.ts), which the workflow routes to recording.
    for (const [name, handler] of [['SlackInteractions', this.slackInteractions], ['ReviewApi', this.reviewApi]] as const) {
      grantTaskCallbacks(this, name, handler.role);
    }

    this.slackInteractionsUrl = this.slackInteractions.function.addFunctionUrl({ authType: FunctionUrlAuthType.NONE });
    this.reviewApiUrl = this.reviewApi.function.addFunctionUrl({ authType: FunctionUrlAuthType.AWS_IAM });
  }

  /**
   * Lets record-outcome publish `Action Decided` on the intake's bus: sets its bus name and makes its role a
   * decision publisher (PutEvents on the bus, exempt from the bus policy's anti-forgery denies). A separate
   * step because the intake is built after the workflow, which needs record-outcome.
   */
  connectDecisionBus(intake: ActionIntake): void {
    if (this.decisionBusConnected) throw new Error(`SlackReviews ${this.node.id}: connectDecisionBus was already called`);
    this.decisionBusConnected = true;
    this.recordOutcome.function.addEnvironment(ENV.eventBusName, intake.eventBus.eventBusName);
    intake.addDecisionPublisher(this.recordOutcome.role);
  }

  /**
   * Lets a principal (a CI role) vote through the review API: `lambda:InvokeFunctionUrl`, and
   * `lambda:InvokeFunction` limited to Function URL calls, the two actions Lambda checks.
   */
  grantReviewApiInvoke(grantee: IGrantable): Grant {
    return this.reviewApi.function.grantInvokeUrl(grantee);
  }

  /** Lets another function of the stack post to Slack: the bot token secret and its key, as the review functions have them. */
  grantBotToken(role: IRole): void {
    this.grantSlackSecretValue(role, this.slackBotTokenSecret);
  }

  /** The environment and bundled file a function needs to read the approver directory. */
  get directoryBundle(): { environment: Record<string, string>; file: { source: string; targetDir: string } } {
    return {
      environment: { [ENV.directoryFile]: posix.join(LAMBDA_TASK_ROOT, BUNDLED_CONFIG_DIR, basename(this.directoryFile)) },
      file: { source: this.directoryFile, targetDir: BUNDLED_CONFIG_DIR },
    };
  }

  /** secretsmanager:GetSecretValue on one Slack secret, and kms:Decrypt of their key through Secrets Manager only. */
  private grantSlackSecretValue(role: IRole, secret: Secret): void {
    role.addToPrincipalPolicy(new PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [secret.secretArn] }));
    // In the role's policy (not the key policy, where Key.grant would put it for a ViaServicePrincipal), so
    // that each role's whole grant is in one place for the least-privilege test.
    role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['kms:Decrypt'],
        resources: [this.slackSecretKey.keyArn],
        // Aws.REGION, not Stack.of(this).region: a stack given an env would bake its region in at synth.
        conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${Aws.REGION}.amazonaws.com` } },
      }),
    );
  }
}

/**
 * states:SendTaskSuccess/SendTaskFailure for one of the ways reviewers vote (Slack, Teams, the API). A policy
 * of its own, outside the function's scope, so that this acknowledgement (and not the house function's, for
 * X-Ray) is the one that covers the "*".
 */
export function grantTaskCallbacks(scope: Construct, name: string, role: IRole): void {
  const policy = new Policy(scope, `${name}TaskCallbacks`, {
    statements: [new PolicyStatement({ actions: [...TASK_CALLBACK_ACTIONS], resources: ['*'] })],
    roles: [role],
  });
  Validations.of(policy).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason: 'states:SendTaskSuccess and states:SendTaskFailure support no resource-level permissions: the task token, kept server-side, is the capability. Only slack-interactions, teams-interactions and review-api hold them (a test checks that no other role does).',
  });
}

function absolute(path: string): string {
  return isAbsolute(path) ? path : resolve(PROJECT_ROOT, path);
}

function loadDirectory(id: string, file: string): Directory {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`SlackReviews ${id}: cannot read the approver directory ${file}: ${(error as Error).message}. Pass another file with -c directory=<path>`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`SlackReviews ${id}: the approver directory ${file} is not JSON: ${(error as Error).message}`);
  }
  return Directory.parse(json, `SlackReviews ${id}: ${file}`);
}
