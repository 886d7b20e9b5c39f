import { Aws, Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement, type IRole } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { FunctionUrlAuthType, type FunctionUrl } from 'aws-cdk-lib/aws-lambda';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { DEFAULT_TEAMS_SERVICE_URL, ENV } from '../../shared/config.js';
import { grantItems } from './decision-store.js';
import { HouseFunction, type PowertoolsLogLevel } from './house-function.js';
import { grantTaskCallbacks, REVIEW_TABLE_ACTIONS, type SlackReviews } from './slack-reviews.js';

export interface TeamsReviewsProps {
  /** The decision table; its encryption key, if any, is granted for kms:Decrypt. */
  readonly table: ITable;
  /** The Slack review functions: they post and update the Teams cards too, and teams-interactions shares their directory. */
  readonly reviews: SlackReviews;
  /**
   * The Bot Connector's base URL for the tenant's region (proactive messages go there).
   * @default https://smba.trafficmanager.net/teams/ (the global endpoint)
   */
  readonly serviceUrl?: string;
  /** @default - the house default */
  readonly logRetention?: RetentionDays;
  /** @default - the house default */
  readonly logLevel?: PowertoolsLogLevel;
}

/**
 * Reviews in Microsoft Teams, beside Slack:
 * - the Teams bot's secret (`{"appId", "tenantId", "clientSecret"}` of a single-tenant Azure Bot), under a key
 *   of its own, created with placeholders for the operator to replace; read by every review function (they
 *   post and update the cards) with a max age;
 * - teams-interactions, the bot's messaging endpoint, behind a Function URL with auth NONE: the Bot Framework
 *   cannot sign with SigV4, it sends a JWT signed with its published keys, which the handler verifies (issuer,
 *   audience, expiry, serviceUrl) before it reads anything; it records votes and resumes the workflow, and
 *   updates the Slack message too (the Slack bot token, never the signing secret).
 */
export class TeamsReviews extends Construct {
  readonly teamsInteractions: HouseFunction;
  readonly teamsInteractionsUrl: FunctionUrl;
  /** JSON `{"appId", "tenantId", "clientSecret"}`; the operator puts the real values after the first deploy. */
  readonly teamsSecret: Secret;
  readonly teamsSecretKey: Key;
  /** Where the functions send cards (the Bot Connector of the tenant's region). */
  readonly serviceUrl: string;

  constructor(scope: Construct, id: string, props: TeamsReviewsProps) {
    super(scope, id);
    const serviceUrl = props.serviceUrl ?? DEFAULT_TEAMS_SERVICE_URL;
    this.serviceUrl = serviceUrl;
    if (!/^https:\/\/[^\s/]+\/.*$/.test(serviceUrl)) throw new Error(`TeamsReviews ${id}: serviceUrl "${serviceUrl}" must be an https URL such as ${DEFAULT_TEAMS_SERVICE_URL}`);

    this.teamsSecretKey = new Key(this, 'SecretKey', {
      description: 'Countersign Teams bot secret (app id, tenant id, client secret)',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.teamsSecret = new Secret(this, 'BotSecret', {
      description:
        'Countersign Teams bot, JSON {"appId","tenantId","clientSecret"} of the single-tenant Azure Bot\'s app registration. Created with ' +
        'placeholder ids and a random secret that Entra ID refuses: put the real values with `aws secretsmanager put-secret-value`.',
      encryptionKey: this.teamsSecretKey,
      generateSecretString: {
        // Placeholders, not secrets; changing them later would make CloudFormation write them over the real ones.
        secretStringTemplate: JSON.stringify({ appId: '00000000-0000-0000-0000-000000000000', tenantId: '00000000-0000-0000-0000-000000000000' }),
        generateStringKey: 'clientSecret',
        excludePunctuation: true,
        passwordLength: 40,
      },
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(this.teamsSecret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason: 'The client secret is issued and rotated in Entra ID (app registration > Certificates & secrets), not by a rotation Lambda: Secrets Manager cannot mint it. The operator puts the new value after rotating in Entra ID.',
    });

    const teamsEnvironment = { [ENV.teamsSecretArn]: this.teamsSecret.secretArn, [ENV.teamsServiceUrl]: serviceUrl };
    const { reviews } = props;
    this.teamsInteractions = new HouseFunction(this, 'TeamsInteractions', {
      entry: 'functions/teams-interactions/handler.ts',
      serviceName: 'teams-interactions',
      description: 'Countersign: Teams Adaptive Card actions (Bot Framework JWT verified): records votes, resumes the workflow',
      // Teams waits a few seconds for an invoke's answer, cold start included: more memory is more CPU.
      memorySize: 1024,
      sourceMaps: false,
      timeout: Duration.seconds(15),
      environment: {
        [ENV.tableName]: props.table.tableName,
        [ENV.slackBotTokenSecretArn]: reviews.slackBotTokenSecret.secretArn,
        ...teamsEnvironment,
        ...reviews.directoryBundle.environment,
      },
      bundledFiles: [reviews.directoryBundle.file],
      logRetention: props.logRetention,
      logLevel: props.logLevel,
    });
    grantItems(props.table, this.teamsInteractions.function, ['requests', 'reviews'], ...REVIEW_TABLE_ACTIONS);
    // Flood control, as slack-interactions: "Block this agent" and counting denies toward automatic quarantine
    // read the agent's state (GetItem, Query), write it with its audit event item or rejection marker (Update,
    // Put), and give the closed reviews' slots back (Delete).
    grantItems(props.table, this.teamsInteractions.function, ['agents'], 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:Query');
    props.table.encryptionKey?.grant(this.teamsInteractions.function, 'kms:Decrypt');
    reviews.grantBotToken(this.teamsInteractions.role);
    grantTaskCallbacks(this, 'TeamsInteractions', this.teamsInteractions.role);

    // Every function that shows a review posts or updates its Teams card.
    for (const handler of [reviews.requestReview, reviews.recordOutcome, reviews.slackInteractions, reviews.reviewApi, this.teamsInteractions]) this.connect(handler);
    this.teamsInteractionsUrl = this.teamsInteractions.function.addFunctionUrl({ authType: FunctionUrlAuthType.NONE });
  }

  /** Lets another function post and update Teams cards: the secret's ARN and the Bot Connector URL in its environment, and the secret's grant. */
  connect(handler: HouseFunction): void {
    handler.function.addEnvironment(ENV.teamsSecretArn, this.teamsSecret.secretArn);
    handler.function.addEnvironment(ENV.teamsServiceUrl, this.serviceUrl);
    this.grantTeamsSecret(handler.role);
  }

  /** secretsmanager:GetSecretValue on the Teams secret, and kms:Decrypt of its key through Secrets Manager only. */
  private grantTeamsSecret(role: IRole): void {
    role.addToPrincipalPolicy(new PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [this.teamsSecret.secretArn] }));
    role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['kms:Decrypt'],
        resources: [this.teamsSecretKey.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${Aws.REGION}.amazonaws.com` } },
      }),
    );
  }
}
