import { basename, isAbsolute, posix, resolve } from 'node:path';
import { Aws, CfnOutput, Duration, Stack, Validations } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { ArnPrincipal, Policy, PolicyDocument, PolicyStatement, Role, type Grant, type IGrantable } from 'aws-cdk-lib/aws-iam';
import { FunctionUrlAuthType, type FunctionUrl } from 'aws-cdk-lib/aws-lambda';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ENV } from '../../shared/config.js';
import { loadExecutionGrantsFile } from '../../shared/credentials/grants-file.js';
import { SESSION_TAG_KEYS } from '../../shared/domain/credentials.js';
import { roleCeilingPolicy, type ExecutionGrant, type ExecutionGrants } from '../../shared/domain/execution-grants.js';
import { grantItems } from './decision-store.js';
import { HouseFunction, PROJECT_ROOT, type PowertoolsLogLevel } from './house-function.js';
import { BUNDLED_CONFIG_DIR, LAMBDA_TASK_ROOT } from './slack-reviews.js';

/** What the credentials function may do to an execution role: assume it, tag the session, set its source identity. */
export const ASSUME_EXECUTION_ROLE_ACTIONS = ['sts:AssumeRole', 'sts:TagSession', 'sts:SetSourceIdentity'] as const;
/** The table operations of `DynamoCredentialsStore`: GetItem (request, eventSeq), Query (legacy count), PutItem + UpdateItem (the transaction). */
export const CREDENTIALS_TABLE_ACTIONS = ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:UpdateItem'] as const;
/** Every session name and source identity starts with this (`sessionNameOf`); the trust policy requires it. */
export const SESSION_NAME_PREFIX = 'cs-';

export interface ExecutionCredentialsProps {
  /** The decision table: the request item is read and event items are added (LeadingKeys `REQ#`). */
  readonly table: ITable;
  /** The approver directory (agents' IAM identities), absolute; validated by `SlackReviews` already. */
  readonly directoryFile: string;
  /**
   * The execution-grant configuration, absolute or relative to the project root; validated at synth.
   * @default - `config/execution-grants.json` at the project root
   */
  readonly grantsFile?: string;
  /** @default - the house default */
  readonly logRetention?: RetentionDays;
  /** @default - the house default */
  readonly logLevel?: PowertoolsLogLevel;
}

/**
 * Just-in-time credentials for approved actions (issue 12, part 2): `POST /actions/{actionId}/credentials`
 * behind a Function URL with AWS_IAM auth, and one execution role per grant of the configuration. Each role's
 * trust policy admits only this function's role (to assume it, tag the session with the two Countersign tags,
 * and set a `cs-` source identity); its permissions are the grant's ceiling (the session-policy template with
 * any resource), which every session narrows to the approved resource. The agent's own role holds none of it.
 */
export class ExecutionCredentials extends Construct {
  readonly handler: HouseFunction;
  readonly functionUrl: FunctionUrl;
  readonly url: string;
  readonly grants: ExecutionGrants;
  readonly grantsFile: string;
  /** The execution role of each grant, by the grant's `role` name. */
  readonly roles: Readonly<Record<string, Role>>;

  constructor(scope: Construct, id: string, props: ExecutionCredentialsProps) {
    super(scope, id);
    this.grantsFile = absolute(props.grantsFile ?? 'config/execution-grants.json');
    try {
      this.grants = loadExecutionGrantsFile(this.grantsFile);
    } catch (error) {
      throw new Error(`ExecutionCredentials ${id}: ${(error as Error).message}. Pass another file with -c executionGrants=<path>`);
    }
    const inBundle = (file: string) => posix.join(LAMBDA_TASK_ROOT, BUNDLED_CONFIG_DIR, basename(file));
    if (basename(this.grantsFile) === basename(props.directoryFile)) {
      throw new Error(`ExecutionCredentials ${id}: the grant configuration and the directory are both named ${basename(this.grantsFile)}; they share the bundle's config folder, so rename one`);
    }

    this.handler = new HouseFunction(this, 'Handler', {
      entry: 'functions/issue-credentials/handler.ts',
      serviceName: 'issue-credentials',
      description: 'Countersign: POST /actions/{actionId}/credentials, just-in-time credentials for an approved action',
      memorySize: 256,
      environment: {
        [ENV.tableName]: props.table.tableName,
        [ENV.directoryFile]: inBundle(props.directoryFile),
        [ENV.executionGrantsFile]: inBundle(this.grantsFile),
      },
      bundledFiles: [{ source: props.directoryFile, targetDir: BUNDLED_CONFIG_DIR }, { source: this.grantsFile, targetDir: BUNDLED_CONFIG_DIR }],
      logRetention: props.logRetention,
      logLevel: props.logLevel,
    });
    const fn = this.handler.function;
    const functionRole = fn.role;
    if (functionRole === undefined) throw new Error(`ExecutionCredentials ${id}: the function has no role`);

    const roles: Record<string, Role> = {};
    for (const grant of this.grants.data.grants) {
      const role = new Role(this, `Exec${pascal(grant.role)}`, {
        description: `Countersign execution role "${grant.role}": ${grant.action} on ${grant.resourceType}, assumed only by the credentials function, narrowed per request`,
        assumedBy: new ArnPrincipal(functionRole.roleArn),
        maxSessionDuration: Duration.seconds(grant.maxSessionSeconds),
      });
      role.assumeRolePolicy?.addStatements(
        new PolicyStatement({
          principals: [new ArnPrincipal(functionRole.roleArn)],
          actions: ['sts:TagSession'],
          conditions: {
            'ForAllValues:StringEquals': { 'aws:TagKeys': [SESSION_TAG_KEYS.actionId, SESSION_TAG_KEYS.payloadSha256] },
            Null: { [`aws:RequestTag/${SESSION_TAG_KEYS.actionId}`]: 'false', [`aws:RequestTag/${SESSION_TAG_KEYS.payloadSha256}`]: 'false' },
          },
        }),
        new PolicyStatement({
          principals: [new ArnPrincipal(functionRole.roleArn)],
          actions: ['sts:SetSourceIdentity'],
          conditions: { StringLike: { 'sts:SourceIdentity': `${SESSION_NAME_PREFIX}*` } },
        }),
      );
      const ceiling = new Policy(this, `Exec${pascal(grant.role)}Ceiling`, {
        document: PolicyDocument.fromJson(roleCeilingPolicy(grant, { accountId: Aws.ACCOUNT_ID, region: Aws.REGION, partition: Aws.PARTITION })),
      });
      ceiling.attachToRole(role);
      acknowledgeCeilingWildcards(ceiling, grant);
      roles[grant.role] = role;
    }
    this.roles = roles;

    fn.addEnvironment(ENV.executionRoleArns, Stack.of(this).toJsonString(Object.fromEntries(Object.entries(roles).map(([name, role]) => [name, role.roleArn]))));
    grantItems(props.table, fn, ['requests'], ...CREDENTIALS_TABLE_ACTIONS);
    // The agent's quarantine (DynamoAgentGuard.quarantineOf): one GetItem of its state item.
    grantItems(props.table, fn, ['agents'], 'dynamodb:GetItem');
    props.table.encryptionKey?.grant(fn, 'kms:Decrypt');
    if (Object.keys(roles).length > 0) {
      fn.addToRolePolicy(new PolicyStatement({ actions: [...ASSUME_EXECUTION_ROLE_ACTIONS], resources: Object.values(roles).map((role) => role.roleArn) }));
    }

    this.functionUrl = fn.addFunctionUrl({ authType: FunctionUrlAuthType.AWS_IAM });
    this.url = this.functionUrl.url;
    new CfnOutput(this, 'Url', {
      value: this.url,
      description: 'Just-in-time credentials (AWS_IAM auth, SigV4 service "lambda", as the agent): POST <url>actions/{actionId}/credentials',
    }).overrideLogicalId('CredentialsApiUrl');
    new CfnOutput(this, 'FunctionArn', {
      value: fn.functionArn,
      description: 'Grant agents lambda:InvokeFunctionUrl and lambda:InvokeFunction (InvokedViaFunctionUrl) on this',
    }).overrideLogicalId('CredentialsApiFunctionArn');
  }

  /** Lets a principal (an agent's role) call the API; the function still checks the caller is the request's agent. */
  grantInvoke(grantee: IGrantable): Grant {
    return this.handler.function.grantInvokeUrl(grantee);
  }
}

/**
 * The ceiling's wildcards are the point of a grant (any table; each session gets one): acknowledged one finding
 * at a time, by its exact resource or action as cdk-nag names it, so that any other wildcard still fails.
 */
function acknowledgeCeilingWildcards(ceiling: Policy, grant: ExecutionGrant): void {
  const asNagShowsIt = roleCeilingPolicy(grant, { accountId: '<AWS::AccountId>', region: '<AWS::Region>', partition: '<AWS::Partition>' });
  const reason = `The execution role "${grant.role}" has its grant's session-policy template as its ceiling, with any resource of the type: every session is narrowed to the one approved resource by the session policy the credentials function renders, and only that function may assume the role.`;
  const findings = new Set<string>();
  for (const statement of asNagShowsIt.Statement) {
    for (const resource of [statement.Resource].flat()) if (resource.includes('*')) findings.add(`AwsSolutions-IAM5[Resource::${resource}]`);
    for (const action of [statement.Action].flat()) if (action.includes('*')) findings.add(`AwsSolutions-IAM5[Action::${action}]`);
  }
  for (const id of findings) Validations.of(ceiling).acknowledge({ id, reason });
}

function absolute(path: string): string {
  return isAbsolute(path) ? path : resolve(PROJECT_ROOT, path);
}

/** `countersign-exec-db-export` → `CountersignExecDbExport`: a stable construct id from the grant's role name. */
function pascal(name: string): string {
  return name.split(/[^A-Za-z0-9]+/).filter(Boolean).map((part) => part[0]!.toUpperCase() + part.slice(1)).join('');
}
