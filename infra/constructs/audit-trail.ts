import { Aws, CfnResource, Duration, FeatureFlags, RemovalPolicy, Stack, TimeZone, Validations } from 'aws-cdk-lib';
import { CfnNamedQuery, CfnWorkGroup } from 'aws-cdk-lib/aws-athena';
import { Alarm, ComparisonOperator, MathExpression, Metric, TreatMissingData, type IMetric } from 'aws-cdk-lib/aws-cloudwatch';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { CfnDatabase, CfnTable } from 'aws-cdk-lib/aws-glue';
import { AnyPrincipal, Effect, Policy, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key, KeySpec, KeyUsage } from 'aws-cdk-lib/aws-kms';
import { EventSourceMapping, FilterCriteria, FilterRule, MetricType, StartingPosition, type IEventSourceDlq, type IFunction } from 'aws-cdk-lib/aws-lambda';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectLockRetention, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { Schedule, ScheduleExpression, TimeWindow } from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke } from 'aws-cdk-lib/aws-scheduler-targets';
import { S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY } from 'aws-cdk-lib/cx-api';
import { Construct } from 'constructs';
import { ENV } from '../../shared/config.js';
import { AUDIT_COLUMNS, AUDIT_PARTITIONS, AUDIT_PREFIX, AUDIT_TABLE_NAME, COLUMNAR_PREFIX, DIGEST_PREFIX } from '../../shared/audit/format.js';
import { RECONCILIATION_PREFIX } from '../../shared/audit/reconcile.js';
import { COLUMNAR_TABLE_NAME, renderSavedQuery, SAVED_QUERIES, sqlString, withColumnarCopy, type SavedQuery } from '../../shared/audit/queries.js';
import { COLUMNAR_COLUMNS } from '../../shared/audit/columnar.js';
import { DECISION_TABLE } from '../../shared/store-schema.js';
import { grantItems } from './decision-store.js';
import { HouseFunction, type PowertoolsLogLevel } from './house-function.js';
import { KeyGuard } from './key-guard.js';
import { AUDIT_EVENT_MARK } from '../../shared/domain/request-items.js';

/** An Athena named query: runnable SQL (no parameters left), its name and description. */
/**
 * The Hive JSON SerDe, not the OpenX one: Athena documents OpenX results as possibly non-deterministic, and
 * `timestamp.formats` (JodaTime patterns, tried in order) is a Hive JSON SerDe property. `occurred_at` is
 * written as ISO 8601 UTC (`toISOString`, milliseconds and `Z`); the second and third formats take the
 * other fraction lengths and none, which the record format also admits. The Hive SerDe fails a query on a
 * malformed line (it has no switch to skip one): the record is the evidence.
 */
export const AUDIT_SERDE = {
  serializationLibrary: 'org.apache.hive.hcatalog.data.JsonSerDe',
  parameters: { 'timestamp.formats': "yyyy-MM-dd'T'HH:mm:ss.SSS'Z',yyyy-MM-dd'T'HH:mm:ss.S'Z',yyyy-MM-dd'T'HH:mm:ss'Z'" },
} as const;

export interface NamedQuerySpec {
  readonly name: string;
  readonly description: string;
  readonly sql: string;
}

/**
 * A saved query of `shared/audit/queries.ts` as an Athena named query: the `:name` parameters become their
 * defaults as literals (Athena named queries take no parameters), and a leading comment says what each one
 * is, so an auditor edits the literals before running it. The query reads the Parquet copy for the days
 * before the latest compacted one and NDJSON for the rest (withColumnarCopy).
 */
export function namedQueryOf(query: SavedQuery): NamedQuerySpec {
  const params = Object.entries(query.params);
  const header = params.length === 0 ? '' : ['-- Parameters (edit the literals below):', ...params.map(([name, p]) => `--   ${name}: ${p.description} (default ${sqlString(p.default)})`)].join('\n') + '\n';
  return { name: query.name, description: query.description, sql: header + withColumnarCopy(renderSavedQuery(query)) };
}

/**
 * What the bucket policy denies to every principal, the stack's own roles included. Deleting objects and
 * versions is also impossible under COMPLIANCE retention; the policy makes it impossible after retention
 * ends too, and refuses the calls before Object Lock is even asked. `s3:PutObjectRetention` is denied to all
 * but the two roles that write objects with a retention date (writer and digest), and
 * `s3:PutLifecycleConfiguration` to everyone.
 */
/** The only attributes the digest role may read from the table (the reconciliation's Scan; keys for paging). */
export const RECONCILIATION_TABLE_ATTRIBUTES = ['pk', 'sk', 'kind', 'eventId', 'occurredAt', 'key', 'receivedAt', 'auditEvent'] as const;

export const AUDIT_BUCKET_DENIED_ACTIONS = ['s3:BypassGovernanceRetention', 's3:DeleteObject', 's3:DeleteObjectVersion'] as const;

/** The Lambda settings the writer reads the table stream with (see the construct's documentation). */
export const WRITER_STREAM_SETTINGS = {
  batchSize: 1000,
  maxBatchingWindow: Duration.seconds(60),
  maxRecordAge: Duration.hours(6),
  retryAttempts: 20,
  parallelizationFactor: 1,
  /**
   * A tumbling window makes Lambda name the shard (event-level `shardId`) in each invocation, which
   * the per-shard hash chain needs; the writer keeps no window state.
   */
  tumblingWindow: Duration.minutes(15),
} as const;

const DEFAULT_RETENTION = Duration.days(365);
/** Object Lock accepts default retention periods up to 100 years. */
const MAX_RETENTION_DAYS = 36_500;
const ATHENA_MIN_CUTOFF = 10 * 1024 * 1024;

export interface AuditTrailProps {
  /** The decision table, with a NEW_IMAGE stream; its encryption key, if any, is granted for kms:Decrypt. */
  readonly table: ITable;
  /**
   * Default Object Lock retention (COMPLIANCE mode) of every object in the audit bucket, in whole days
   * (1 to 36,500). Nobody, the root user included, can shorten it for an object once written.
   * @default Duration.days(365)
   */
  readonly retention?: Duration;
  /**
   * The auditors' queries, one Athena named query each (names unique).
   * @default - every query of `SAVED_QUERIES` (shared/audit/queries.ts), through `namedQueryOf`
   */
  readonly savedQueries?: readonly NamedQuerySpec[];
  /**
   * The most a single Athena query in the audit workgroup may scan before Athena cancels it, in bytes
   * (at least 10 MB).
   * @default 10 GiB
   */
  readonly bytesScannedCutoffPerQuery?: number;
  /**
   * How long Athena query results are kept in the results bucket (whole days).
   * @default Duration.days(30)
   */
  readonly queryResultsExpiration?: Duration;
  /**
   * Partition projection range of `dt` (Athena's syntax: `<start>,<end>`, absolute `yyyy-MM-dd` or `NOW-nYEARS`).
   * @default 'NOW-10YEARS,NOW'
   */
  readonly projectionRange?: string;
  /**
   * Name of the Glue database (lowercase letters, digits, `_`).
   * @default - the stack name, lowercased, non-alphanumerics as `_`, plus `_audit`
   */
  readonly databaseName?: string;
  /**
   * The one IAM role or user that may disable or schedule the deletion of the audit keys (see KeyGuard).
   * @default - nobody, until the key policy is changed (which raises the key alarm)
   */
  readonly breakGlassPrincipalArn?: string;
  /** @default 'functions/audit-writer/handler.ts' */
  readonly writerEntry?: string;
  /** @default 'functions/audit-digest/handler.ts' */
  readonly digestEntry?: string;
  /** @default 'functions/audit-redrive/handler.ts' */
  readonly redriveEntry?: string;
  /** @default 'functions/audit-compact/handler.ts' */
  readonly compactEntry?: string;
  /** @default - the house default */
  readonly logRetention?: RetentionDays;
  /** @default - the house default */
  readonly logLevel?: PowertoolsLogLevel;
}

/**
 * The audit trail (DESIGN.md decision 8, issue 4):
 * - the locked bucket: Object Lock COMPLIANCE with a default retention, versioning, SSE-KMS with the audit
 *   key, no public access, TLS only, a policy that denies deletes and retention changes to everyone, server
 *   access logs to a separate bucket; retained;
 * - audit-writer on the table stream, new event items only (filtered at the source), one shard processed in
 *   order (the hash chain is per shard), partial batch responses, bisect on error, records older than
 *   `maxRecordAge` (below the stream's 24 h) or failing `retryAttempts` times go to the failure bucket,
 *   which keeps the whole batch (an S3 on-failure destination, unlike SQS, carries the payload);
 * - audit-digest, invoked hourly by EventBridge Scheduler, signing with an ECC_NIST_P256 KMS key that only
 *   its role may use for `kms:Sign` (the key policy denies everyone else, whatever their IAM policies say);
 * - a Glue database and the `audit_events` table (from `AUDIT_COLUMNS`/`AUDIT_PARTITIONS`, partition
 *   projection), an Athena workgroup with an enforced, KMS-encrypted result location and a scan cutoff, and
 *   one named query per saved query;
 * - audit-redrive, invoked hourly: writes the failure bucket's batches into the log (chain `late.<shard>`,
 *   marked `redriven_at`) with the writer's own code and grants, plus read access to the failure bucket;
 * - alarms: writer iterator age and errors, digest errors, batches in the failure bucket, redrive errors
 *   and batches it could not redrive.
 */
export class AuditTrail extends Construct {
  readonly bucket: Bucket;
  /** Server access logs of the audit, failure and results buckets. */
  readonly accessLogsBucket: Bucket;
  /** Failed stream batches, in full, as Lambda's S3 on-failure destination writes them. */
  readonly failureBucket: Bucket;
  readonly queryResultsBucket: Bucket;
  /** Encrypts the audit, failure and query results buckets. */
  readonly key: Key;
  readonly signingKey: Key;
  readonly writer: HouseFunction;
  readonly digest: HouseFunction;
  /** Writes the failure bucket's batches into the log, hourly (chain `late.<shard>`). */
  readonly redrive: HouseFunction;
  readonly redriveSchedule: Schedule;
  readonly redriveErrorsAlarm: Alarm;
  /** Copies the closed hours to Parquet under columnar/ (shared/audit/columnar.ts), daily after the 00:10 digest. */
  readonly compact: HouseFunction;
  readonly compactSchedule: Schedule;
  readonly compactErrorsAlarm: Alarm;
  /** The daily reconciliation of the table with the log found differences. */
  readonly reconcileDifferencesAlarm: Alarm;
  /** The hourly digest refused to sign objects two runs in a row (not the audit writer's): see REFUSED_OBJECTS below. */
  readonly refusedObjectsAlarm: Alarm;
  readonly streamMapping: EventSourceMapping;
  readonly schedule: Schedule;
  readonly schedulerRole: Role;
  readonly database: CfnDatabase;
  readonly databaseName: string;
  readonly glueTable: CfnTable;
  /** `audit_events_columnar`: the Parquet copy under columnar/, partitioned by dt (projected). */
  readonly columnarTable: CfnTable;
  readonly workGroup: CfnWorkGroup;
  readonly workGroupName: string;
  readonly namedQueries: CfnNamedQuery[];
  readonly retentionDays: number;
  readonly iteratorAgeAlarm: Alarm;
  readonly writerErrorsAlarm: Alarm;
  readonly digestErrorsAlarm: Alarm;
  readonly failedBatchesAlarm: Alarm;
  readonly alarms: Alarm[];
  /** Denies disabling or deleting the audit and signing keys (but to the break-glass principal), and alarms on attempts. */
  readonly keyGuard: KeyGuard;

  constructor(scope: Construct, id: string, props: AuditTrailProps) {
    super(scope, id);
    // Server access logs are delivered under a bucket policy for logging.s3.amazonaws.com, not the legacy
    // LogDeliveryWrite ACL (which would need ACLs enabled on the logs bucket). The flag is the app's, in
    // cdk.json; without it the logs bucket would need ACLs, so refuse to build rather than fall back.
    if (!FeatureFlags.of(this).isEnabled(S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY)) {
      throw new Error(`AuditTrail ${id}: the CDK feature flag "${S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY}" must be true (cdk.json's context sets it; an App made in code needs it in its context)`);
    }
    const stack = Stack.of(this);
    this.retentionDays = wholeDays(id, 'retention', props.retention ?? DEFAULT_RETENTION, 1, MAX_RETENTION_DAYS);
    const resultsDays = wholeDays(id, 'queryResultsExpiration', props.queryResultsExpiration ?? Duration.days(30), 1, 3650);
    const cutoff = props.bytesScannedCutoffPerQuery ?? 10 * 1024 ** 3;
    if (!Number.isInteger(cutoff) || cutoff < ATHENA_MIN_CUTOFF) {
      throw new Error(`AuditTrail ${id}: bytesScannedCutoffPerQuery must be an integer of at least ${ATHENA_MIN_CUTOFF} bytes (10 MB, Athena's minimum), got ${cutoff}`);
    }
    const savedQueries = checkSavedQueries(id, props.savedQueries ?? SAVED_QUERIES.map(namedQueryOf));
    const projectionRange = props.projectionRange ?? 'NOW-10YEARS,NOW';
    if (!/^[^,\s]+,[^,\s]+$/.test(projectionRange)) {
      throw new Error(`AuditTrail ${id}: projectionRange must be "<start>,<end>" (e.g. "NOW-10YEARS,NOW" or "2026-01-01,NOW"), got "${projectionRange}"`);
    }
    if (props.table.tableStreamArn === undefined) {
      throw new Error(`AuditTrail ${id}: the table has no stream; the audit writer reads its NEW_IMAGE stream`);
    }
    const streamArn = props.table.tableStreamArn;

    // --- Keys and buckets ---------------------------------------------------------------------------------
    this.key = new Key(this, 'Key', {
      description: 'Countersign audit log, failed stream batches and Athena query results',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.accessLogsBucket = new Bucket(this, 'AccessLogsBucket', {
      // S3 server access logging delivers only to SSE-S3 buckets.
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      versioned: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const logged = (prefix: string) => ({ serverAccessLogsBucket: this.accessLogsBucket, serverAccessLogsPrefix: `${prefix}/` });
    const encrypted = {
      encryption: BucketEncryption.KMS,
      encryptionKey: this.key,
      bucketKeyEnabled: true,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      removalPolicy: RemovalPolicy.RETAIN,
    } as const;

    this.bucket = new Bucket(this, 'Bucket', {
      ...encrypted,
      ...logged('audit'),
      versioned: true,
      objectLockEnabled: true,
      objectLockDefaultRetention: ObjectLockRetention.compliance(Duration.days(this.retentionDays)),
    });

    this.failureBucket = new Bucket(this, 'FailureBucket', {
      ...encrypted,
      ...logged('failures'),
      versioned: true,
      // S3 request metrics (PutRequests) for the failed-batches alarm.
      metrics: [{ id: 'FailedBatches' }],
    });

    this.queryResultsBucket = new Bucket(this, 'QueryResultsBucket', {
      ...encrypted,
      ...logged('query-results'),
      versioned: true,
      lifecycleRules: [
        { id: 'ExpireQueryResults', expiration: Duration.days(resultsDays), noncurrentVersionExpiration: Duration.days(1), abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
    });

    this.signingKey = new Key(this, 'DigestSigningKey', {
      description: 'Countersign audit digests: signs each hourly digest (ECDSA P-256); only the digest role may sign',
      keySpec: KeySpec.ECC_NIST_P256,
      keyUsage: KeyUsage.SIGN_VERIFY,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // --- Functions ----------------------------------------------------------------------------------------
    const common = { logRetention: props.logRetention, logLevel: props.logLevel };
    // The writer's settings: the redrive runs the writer's code with them.
    const writerEnvironment = {
      [ENV.tableName]: props.table.tableName,
      [ENV.auditBucket]: this.bucket.bucketName,
      [ENV.auditRetentionDays]: String(this.retentionDays),
    };
    this.writer = new HouseFunction(this, 'Writer', {
      entry: props.writerEntry ?? 'functions/audit-writer/handler.ts',
      serviceName: 'audit-writer',
      description: 'Countersign: writes new event items from the table stream to the locked audit bucket, hash-chained per shard',
      // A batch of up to 1,000 records: gzip, a PutObject, the chain head's read and conditional write.
      memorySize: 1024,
      timeout: Duration.minutes(2),
      environment: writerEnvironment,
      ...common,
    });
    this.digest = new HouseFunction(this, 'Digest', {
      entry: props.digestEntry ?? 'functions/audit-digest/handler.ts',
      serviceName: 'audit-digest',
      description: 'Countersign: hourly signed digest of the audit objects written in the hour, chained to the previous digest',
      memorySize: 1024,
      timeout: Duration.minutes(5),
      environment: {
        [ENV.auditBucket]: this.bucket.bucketName,
        // The daily reconciliation reads the event items' ids and times.
        [ENV.tableName]: props.table.tableName,
        // Digests (and digests/public-key.pem) are locked as long as the objects they vouch for.
        [ENV.auditRetentionDays]: String(this.retentionDays),
        // KMS accepts a key ARN wherever it takes a KeyId; the ARN also tells verifiers the region and account.
        [ENV.digestKeyId]: this.signingKey.keyArn,
      },
      ...common,
    });

    this.redrive = new HouseFunction(this, 'Redrive', {
      entry: props.redriveEntry ?? 'functions/audit-redrive/handler.ts',
      serviceName: 'audit-redrive',
      description: 'Countersign: hourly, writes the stream batches the audit writer gave up on (failure bucket) into the audit log, marked late',
      memorySize: 1024,
      timeout: Duration.minutes(5),
      environment: { ...writerEnvironment, [ENV.auditFailureBucket]: this.failureBucket.bucketName },
      ...common,
    });

    this.compact = new HouseFunction(this, 'Compact', {
      entry: props.compactEntry ?? 'functions/audit-compact/handler.ts',
      serviceName: 'audit-compact',
      description: 'Countersign: daily, copies the audit log\'s closed hours to Parquet (columnar/) with manifests that verify checks',
      // A day's records decoded and encoded in memory (pure-JS Parquet writer).
      memorySize: 1769,
      timeout: Duration.minutes(15),
      environment: {
        [ENV.auditBucket]: this.bucket.bucketName,
        // The copy is locked as long as the objects it copies.
        [ENV.auditRetentionDays]: String(this.retentionDays),
      },
      ...common,
    });

    const objects = (prefix: string) => this.bucket.arnForObjects(`${prefix}*`);
    // audit-writer: S3AuditSink (PutObject with If-None-Match and a COMPLIANCE retention date, which needs
    // s3:PutObjectRetention; GetObject; ListObjectsV2) on audit/ only; DynamoChainStore's chain heads in the
    // table (GetItem, conditional PutItem).
    this.writer.role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['s3:PutObject', 's3:PutObjectRetention', 's3:GetObject'], resources: [objects(AUDIT_PREFIX)] }),
    );
    // ListObjectsV2. Not narrowed with an s3:prefix condition: S3 answers a GetObject of a missing key with
    // 404 (rather than 403) only to a caller with s3:ListBucket on the bucket, and the writer relies on 404.
    this.writer.role.addToPrincipalPolicy(new PolicyStatement({ actions: ['s3:ListBucket'], resources: [this.bucket.bucketArn] }));
    this.key.grant(this.writer.role, 'kms:GenerateDataKey', 'kms:Decrypt');
    grantItems(props.table, this.writer.role, ['auditChain'], 'dynamodb:GetItem', 'dynamodb:PutItem');
    // The event source mapping polls the stream with the function's role; DynamoDB decrypts stream records
    // and items with the table key under the caller's credentials.
    this.writer.role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator'], resources: [streamArn] }),
    );
    props.table.encryptionKey?.grant(this.writer.role, 'kms:Decrypt');
    const listStreams = new Policy(this, 'WriterListStreams', {
      statements: [new PolicyStatement({ actions: ['dynamodb:ListStreams'], resources: ['*'] })],
      roles: [this.writer.role],
    });
    Validations.of(listStreams).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'dynamodb:ListStreams supports no resource-level permissions, and Lambda checks for it when it creates the stream event source mapping; it lists stream ARNs, no data.',
    });
    // Lambda writes a failed batch to the on-failure bucket with the function's role: PutObject and
    // ListBucket, and the bucket key's GenerateDataKey (granted above).
    this.writer.role.addToPrincipalPolicy(new PolicyStatement({ actions: ['s3:PutObject'], resources: [this.failureBucket.arnForObjects('*')] }));
    this.writer.role.addToPrincipalPolicy(new PolicyStatement({ actions: ['s3:ListBucket'], resources: [this.failureBucket.bucketArn] }));

    // audit-redrive: the writer's grants on the log and the chain heads (it runs the writer's code), and
    // reads the failure bucket (ListObjectsV2, GetObject, and its key's Decrypt).
    this.redrive.role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['s3:PutObject', 's3:PutObjectRetention', 's3:GetObject'], resources: [objects(AUDIT_PREFIX)] }),
    );
    this.redrive.role.addToPrincipalPolicy(new PolicyStatement({ actions: ['s3:ListBucket'], resources: [this.bucket.bucketArn, this.failureBucket.bucketArn] }));
    this.redrive.role.addToPrincipalPolicy(new PolicyStatement({ actions: ['s3:GetObject'], resources: [this.failureBucket.arnForObjects('*')] }));
    // Every version of the failure bucket is read (a delete marker must not hide a failed batch):
    // ListObjectVersions is authorized as s3:ListBucketVersions, a GET with a version id as s3:GetObjectVersion.
    this.redrive.role.addToPrincipalPolicy(new PolicyStatement({ actions: ['s3:ListBucketVersions'], resources: [this.failureBucket.bucketArn] }));
    this.redrive.role.addToPrincipalPolicy(new PolicyStatement({ actions: ['s3:GetObjectVersion'], resources: [this.failureBucket.arnForObjects('*')] }));
    this.key.grant(this.redrive.role, 'kms:GenerateDataKey', 'kms:Decrypt');
    grantItems(props.table, this.redrive.role, ['auditChain'], 'dynamodb:PutItem');
    // GetItem: the chain heads, and the event items whose content the redrive takes from the table
    // (the failure bucket is not locked). REQ# partitions hold no task token (review items are REVIEW#).
    grantItems(props.table, this.redrive.role, ['auditChain', 'requests'], 'dynamodb:GetItem');

    // audit-digest: reads the hour's objects and the previous digest, writes the digest (and, once,
    // digests/public-key.pem) with a retention date.
    this.digest.role.addToPrincipalPolicy(new PolicyStatement({ actions: ['s3:GetObject'], resources: [objects(AUDIT_PREFIX), objects(DIGEST_PREFIX), objects(RECONCILIATION_PREFIX)] }));
    this.digest.role.addToPrincipalPolicy(new PolicyStatement({ actions: ['s3:PutObject', 's3:PutObjectRetention'], resources: [objects(DIGEST_PREFIX), objects(RECONCILIATION_PREFIX)] }));
    // The daily reconciliation scans the table for the event items' ids and times, and may read no other
    // attribute (review items hold task tokens): fine-grained access on the attributes and the Select.
    this.digest.role.addToPrincipalPolicy(new PolicyStatement({
      actions: ['dynamodb:Scan'],
      resources: [props.table.tableArn],
      conditions: {
        'ForAllValues:StringEquals': { 'dynamodb:Attributes': [...RECONCILIATION_TABLE_ATTRIBUTES] },
        StringEqualsIfExists: { 'dynamodb:Select': 'SPECIFIC_ATTRIBUTES' },
      },
    }));
    // The audit writer's chain heads (DynamoChainStore.get): an object is signed only if its shard's head
    // vouches for it. GetItem on the AUDIT#SHARD# partitions only (dynamodb:LeadingKeys), no other item.
    grantItems(props.table, this.digest.role, ['auditChain'], 'dynamodb:GetItem');
    props.table.encryptionKey?.grant(this.digest.role, 'kms:Decrypt');
    this.digest.role.addToPrincipalPolicy(new PolicyStatement({ actions: ['s3:ListBucket'], resources: [this.bucket.bucketArn] }));
    this.key.grant(this.digest.role, 'kms:GenerateDataKey', 'kms:Decrypt');
    this.signingKey.grant(this.digest.role, 'kms:Sign', 'kms:GetPublicKey');
    // The key policy's default statement delegates to IAM, so an administrator's policy with kms:* could sign
    // too; this makes the digest role the only principal that can, whatever IAM policies say. Verifying needs
    // only the public key (kms:GetPublicKey, left to IAM: auditors get it through their own policies, or use
    // the exported public key offline).
    this.signingKey.addToResourcePolicy(
      new PolicyStatement({
        sid: 'OnlyTheDigestRoleSigns',
        effect: Effect.DENY,
        principals: [new AnyPrincipal()],
        actions: ['kms:Sign'],
        resources: ['*'],
        conditions: { ArnNotEquals: { 'aws:PrincipalArn': this.digest.role.roleArn } },
      }),
    );

    // audit-compact: lists the bucket, reads the objects, the digests (which list the objects and their
    // hashes) and the copy's manifests (which objects are copied already); writes Parquet files and
    // manifests with a retention date under columnar/ only.
    this.compact.role.addToPrincipalPolicy(new PolicyStatement({ actions: ['s3:GetObject'], resources: [objects(AUDIT_PREFIX), objects(DIGEST_PREFIX), objects(COLUMNAR_PREFIX)] }));
    this.compact.role.addToPrincipalPolicy(new PolicyStatement({ actions: ['s3:PutObject', 's3:PutObjectRetention'], resources: [objects(COLUMNAR_PREFIX)] }));
    this.compact.role.addToPrincipalPolicy(new PolicyStatement({ actions: ['s3:ListBucket'], resources: [this.bucket.bucketArn] }));
    this.key.grant(this.compact.role, 'kms:GenerateDataKey', 'kms:Decrypt');

    for (const [fn, prefixes] of [[this.writer, [AUDIT_PREFIX]], [this.redrive, [AUDIT_PREFIX]], [this.digest, [AUDIT_PREFIX, DIGEST_PREFIX, RECONCILIATION_PREFIX]], [this.compact, [AUDIT_PREFIX, DIGEST_PREFIX, COLUMNAR_PREFIX]]] as const) {
      for (const prefix of prefixes) {
        Validations.of(fn).acknowledge({
          id: `AwsSolutions-IAM5[Resource::<${stack.getLogicalId(this.bucket.node.defaultChild as CfnResource)}.Arn>/${prefix}*]`,
          reason: `Object actions on the audit bucket's ${prefix} prefix, where object keys are made per batch or per hour; the least-privilege test pins the exact actions.`,
        });
      }
    }
    Validations.of(this.writer).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${stack.getLogicalId(this.failureBucket.node.defaultChild as CfnResource)}.Arn>/*]`,
      reason: 'Lambda names the objects it writes to the on-failure bucket (one per failed batch), so PutObject needs the whole bucket; the bucket holds nothing else.',
    });
    Validations.of(this.redrive).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${stack.getLogicalId(this.failureBucket.node.defaultChild as CfnResource)}.Arn>/*]`,
      reason: 'The redrive reads every failed batch Lambda wrote to the on-failure bucket (objects named by Lambda); the bucket holds nothing else.',
    });
    // --- The bucket policy ----------------------------------------------------------------------------------
    const retentionWriters = [this.writer.role.roleArn, this.redrive.role.roleArn, this.digest.role.roleArn, this.compact.role.roleArn];
    this.bucket.addToResourcePolicy(
      new PolicyStatement({
        sid: 'NoDeletesNoBypass',
        effect: Effect.DENY,
        principals: [new AnyPrincipal()],
        actions: [...AUDIT_BUCKET_DENIED_ACTIONS],
        resources: [this.bucket.arnForObjects('*')],
      }),
    );
    // Under versioning an unconditional PutObject on an existing key adds a new current version on top
    // of the locked one: a forgery a plain GET returns. Every object-creating request must carry
    // If-None-Match (the writers always do), so no principal can overwrite a key. Multipart part
    // uploads carry no conditional header: s3:ObjectCreationOperation is false for them (S3 User Guide,
    // "Enforce conditional writes"), and their CompleteMultipartUpload is held to the same rule.
    this.bucket.addToResourcePolicy(
      new PolicyStatement({
        sid: 'NoOverwrites',
        effect: Effect.DENY,
        principals: [new AnyPrincipal()],
        actions: ['s3:PutObject'],
        resources: [this.bucket.arnForObjects('*')],
        conditions: { Null: { 's3:if-none-match': 'true' }, Bool: { 's3:ObjectCreationOperation': 'true' } },
      }),
    );
    // Lifecycle rules act outside the bucket policy: an expiration rule would delete versions once their
    // retention ends. The bucket has none, and nobody may add one. (PutBucketObjectLockConfiguration stays
    // allowed: it is how a changed `retention` prop deploys, and it cannot shorten any written object's date.)
    this.bucket.addToResourcePolicy(
      new PolicyStatement({
        sid: 'NoLifecycleRules',
        effect: Effect.DENY,
        principals: [new AnyPrincipal()],
        actions: ['s3:PutLifecycleConfiguration'],
        resources: [this.bucket.bucketArn],
      }),
    );
    // COMPLIANCE mode already refuses to shorten a retention date; this also keeps every other principal from
    // setting one (and the writers may only extend). PutObject with a retention date needs this action.
    this.bucket.addToResourcePolicy(
      new PolicyStatement({
        sid: 'OnlyAuditWritersSetRetention',
        effect: Effect.DENY,
        principals: [new AnyPrincipal()],
        actions: ['s3:PutObjectRetention'],
        resources: [this.bucket.arnForObjects('*')],
        conditions: { ArnNotEquals: { 'aws:PrincipalArn': retentionWriters } },
      }),
    );

    // --- The stream ----------------------------------------------------------------------------------------
    // Not the L2 S3OnFailureDestination: its bind() calls bucket.grantReadWrite on the function, which
    // would give the writer s3:DeleteObject* (and more) on the failure bucket. The writer gets PutObject and
    // ListBucket there (above), which is what Lambda uses; the least-privilege test pins that.
    const failureDestination: IEventSourceDlq = { bind: () => ({ destination: this.failureBucket.bucketArn }) };
    this.streamMapping = new EventSourceMapping(this, 'WriterStream', {
      target: this.writer.function,
      eventSourceArn: streamArn,
      startingPosition: StartingPosition.TRIM_HORIZON,
      // New event items, and new request items marked as their `requested` event's source (issue 15: one
      // write per decision). Only INSERTs: a request item's later changes are status, and MODIFY/REMOVE never
      // happen to event items. Filters are ORed; the default quota is 5 per mapping (Lambda event filtering).
      filters: [
        FilterCriteria.filter({
          eventName: FilterRule.isEqual('INSERT'),
          dynamodb: { NewImage: { [DECISION_TABLE.kindAttribute]: { S: FilterRule.isEqual('event') } } },
        }),
        FilterCriteria.filter({
          eventName: FilterRule.isEqual('INSERT'),
          dynamodb: {
            NewImage: {
              [DECISION_TABLE.kindAttribute]: { S: FilterRule.isEqual('request') },
              [AUDIT_EVENT_MARK.attribute]: { S: FilterRule.isEqual(AUDIT_EVENT_MARK.value) },
            },
          },
        }),
      ],
      batchSize: WRITER_STREAM_SETTINGS.batchSize,
      maxBatchingWindow: WRITER_STREAM_SETTINGS.maxBatchingWindow,
      // One batch per shard at a time, in order: the hash chain is per shard, in sequence order.
      parallelizationFactor: WRITER_STREAM_SETTINGS.parallelizationFactor,
      tumblingWindow: WRITER_STREAM_SETTINGS.tumblingWindow,
      reportBatchItemFailures: true,
      bisectBatchOnError: true,
      retryAttempts: WRITER_STREAM_SETTINGS.retryAttempts,
      maxRecordAge: WRITER_STREAM_SETTINGS.maxRecordAge,
      onFailure: failureDestination,
      supportS3OnFailureDestination: true,
      metricsConfig: { metrics: [MetricType.EVENT_COUNT] },
    });
    // The mapping validates the role when it is created: the grants must exist first.
    const mappingResource = this.streamMapping.node.defaultChild as CfnResource;
    mappingResource.node.addDependency(this.writer.role, listStreams);

    // --- The hourly schedules: the redrive five past, the digest ten past (it then lists what the redrive
    // wrote, and the writer's batching window and retries have settled the previous hour) -----------------
    const hourly = (id: string, fn: HouseFunction, service: string, minute: number, description: string, hour = '*') => {
      const role = new Role(this, `${id}Role`, {
        assumedBy: new ServicePrincipal('scheduler.amazonaws.com', { conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } } }),
        description: `EventBridge Scheduler: invokes ${service} ${hour === '*' ? 'every hour' : `daily at ${hour}:${String(minute).padStart(2, '0')} UTC`}`,
      });
      // The L2 Schedule and its LambdaInvoke target (which grants the role lambda:InvokeFunction on the function).
      const schedule = new Schedule(this, id, {
        description: `Countersign: ${description}, ${hour === '*' ? `${minute} minutes past each hour` : `daily at ${hour}:${String(minute).padStart(2, '0')}`} (UTC)`,
        schedule: ScheduleExpression.cron({ minute: String(minute), hour, timeZone: TimeZone.of('UTC') }),
        timeWindow: TimeWindow.off(),
        enabled: true,
        target: new LambdaInvoke(fn.function, { role, retryAttempts: 10, maxEventAge: Duration.hours(1) }),
      });
      Validations.of(role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${stack.getLogicalId(fn.function.node.defaultChild as CfnResource)}.Arn>:*]`,
        reason: 'The L2 LambdaInvoke target grants lambda:InvokeFunction on its one function and that function\'s versions and aliases (<arn>:*), nothing else.',
      });
      return { role, schedule };
    };
    const redriveHourly = hourly('RedriveSchedule', this.redrive, 'audit-redrive', 5, 'writes the failure bucket\'s stream batches into the audit log');
    this.redriveSchedule = redriveHourly.schedule;
    const digestHourly = hourly('DigestSchedule', this.digest, 'audit-digest', 10, 'the signed digest of the previous hour');
    this.schedule = digestHourly.schedule;
    this.schedulerRole = digestHourly.role;
    // Daily at 00:20: the 00:10 digest has signed hour 23, so every hour of the day before is closed and the
    // run writes one Parquet file per day (hourly files were 1.3x the NDJSON they copy and slower to query:
    // design notes). A missed run is healed by the next, which copies every closed hour no part holds.
    this.compactSchedule = hourly('CompactSchedule', this.compact, 'audit-compact', 20, 'copies the closed hours of the audit log to Parquet', '0').schedule;

    // --- Glue and Athena -----------------------------------------------------------------------------------
    this.databaseName = props.databaseName ?? `${stack.stackName.toLowerCase().replace(/[^a-z0-9]+/g, '_')}_audit`;
    if (!/^[a-z0-9_]{1,255}$/.test(this.databaseName)) {
      throw new Error(`AuditTrail ${id}: databaseName "${this.databaseName}" must be 1-255 lowercase letters, digits or "_" (Athena's rule for database names)`);
    }
    this.database = new CfnDatabase(this, 'Database', {
      catalogId: Aws.ACCOUNT_ID,
      databaseInput: { name: this.databaseName, description: 'Countersign audit log (read-only for auditors; the data is in the Object Lock bucket)' },
    });
    const location = `s3://${this.bucket.bucketName}/${AUDIT_PREFIX}`;
    this.glueTable = new CfnTable(this, 'AuditEventsTable', {
      catalogId: Aws.ACCOUNT_ID,
      databaseName: this.databaseName,
      tableInput: {
        name: AUDIT_TABLE_NAME,
        description: 'Every audit record (shared/audit/format.ts), newline-delimited JSON, gzip, partitioned by dt and hour (UTC)',
        tableType: 'EXTERNAL_TABLE',
        parameters: glueTableParameters(location, projectionRange),
        partitionKeys: AUDIT_PARTITIONS.map((column) => ({ name: column.name, type: glueType(column.type) })),
        storageDescriptor: {
          columns: AUDIT_COLUMNS.map((column) => ({ name: column.name, type: glueType(column.type) })),
          location,
          inputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
          outputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
          compressed: true,
          serdeInfo: AUDIT_SERDE,
        },
      },
    });
    this.glueTable.node.addDependency(this.database);
    // The columnar copy: Parquet (ParquetHiveSerDe), the same columns and types as the NDJSON table, then
    // `hour` and `object_key`; `dt` projected from columnar/dt=YYYY-MM-DD/ like the log's.
    const columnarLocation = `s3://${this.bucket.bucketName}/${COLUMNAR_PREFIX}`;
    this.columnarTable = new CfnTable(this, 'AuditEventsColumnarTable', {
      catalogId: Aws.ACCOUNT_ID,
      databaseName: this.databaseName,
      tableInput: {
        name: COLUMNAR_TABLE_NAME,
        description: 'The audit records of closed hours as Parquet (shared/audit/columnar.ts), one row per record, partitioned by dt (UTC); each part\'s manifest names its source objects and verify proves the copy is the log',
        tableType: 'EXTERNAL_TABLE',
        parameters: columnarTableParameters(columnarLocation, projectionRange),
        partitionKeys: [{ name: AUDIT_PARTITIONS[0].name, type: glueType(AUDIT_PARTITIONS[0].type) }],
        storageDescriptor: {
          columns: COLUMNAR_COLUMNS.map((column) => ({ name: column.name, type: glueType(column.type) })),
          location: columnarLocation,
          inputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
          outputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat',
          serdeInfo: { serializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe' },
        },
      },
    });
    this.columnarTable.node.addDependency(this.database);

    this.workGroupName = `${stack.stackName}-audit`;
    this.workGroup = new CfnWorkGroup(this, 'WorkGroup', {
      name: this.workGroupName,
      description: 'Countersign auditors: queries of the audit_events table; results encrypted with the audit key',
      state: 'ENABLED',
      recursiveDeleteOption: false,
      workGroupConfiguration: {
        enforceWorkGroupConfiguration: true,
        publishCloudWatchMetricsEnabled: true,
        bytesScannedCutoffPerQuery: cutoff,
        resultConfiguration: {
          outputLocation: `s3://${this.queryResultsBucket.bucketName}/athena/`,
          encryptionConfiguration: { encryptionOption: 'SSE_KMS', kmsKey: this.key.keyArn },
          expectedBucketOwner: Aws.ACCOUNT_ID,
        },
      },
    });

    this.namedQueries = savedQueries.map((query) => {
      const named = new CfnNamedQuery(this, `Query${pascal(query.name)}`, {
        name: query.name,
        description: query.description,
        queryString: query.sql,
        database: this.databaseName,
        workGroup: this.workGroupName,
      });
      named.node.addDependency(this.workGroup);
      named.node.addDependency(this.glueTable);
      named.node.addDependency(this.columnarTable);
      return named;
    });

    // --- Alarms --------------------------------------------------------------------------------------------
    // A scheduled function's errors plus a count it publishes of what it left undone, per hour.
    const errorsPlus = (fn: IFunction, id: string, metricName: string, service: string) => new MathExpression({
      expression: `errors + ${id}`,
      usingMetrics: {
        errors: fn.metricErrors({ statistic: 'Sum' }),
        [id]: new Metric({ namespace: 'Countersign', metricName, dimensionsMap: { service }, statistic: 'Sum' }),
      },
      period: Duration.hours(1),
    });
    const alarm = (alarmId: string, description: string, metric: IMetric, threshold: number) =>
      new Alarm(this, alarmId, {
        alarmDescription: description,
        metric,
        threshold,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
    this.iteratorAgeAlarm = alarm(
      'WriterIteratorAgeAlarm',
      `Countersign: the audit writer is more than 15 minutes behind the table stream; records older than ${WRITER_STREAM_SETTINGS.maxRecordAge.toHumanString()} go to the failure bucket, stream records expire after 24 hours`,
      this.writer.function.metric('IteratorAge', { period: Duration.minutes(5), statistic: 'Maximum' }),
      Duration.minutes(15).toMilliseconds(),
    );
    this.writerErrorsAlarm = alarm(
      'WriterErrorsAlarm',
      'Countersign: the audit writer failed (the batch is retried, bisected, then sent to the failure bucket); see its logs',
      this.writer.function.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
      1,
    );
    this.digestErrorsAlarm = alarm(
      'DigestErrorsAlarm',
      'Countersign: the hourly audit digest failed (Scheduler retries for an hour); a missing digest makes verify fail',
      this.digest.function.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
      1,
    );
    this.compactErrorsAlarm = alarm(
      'CompactErrorsAlarm',
      'Countersign: the daily columnar copy (Parquet) failed or left objects uncopied (not what their digest lists); queries read those hours as NDJSON; see audit-compact\'s logs and run verify',
      errorsPlus(this.compact.function, 'refused', 'AuditColumnarRefused', 'audit-compact'),
      1,
    );
    this.failedBatchesAlarm = alarm(
      'FailedBatchesAlarm',
      'Countersign: stream batches the audit writer could not write are in the failure bucket (the audit log misses them until they are replayed)',
      new Metric({
        namespace: 'AWS/S3',
        metricName: 'PutRequests',
        dimensionsMap: { BucketName: this.failureBucket.bucketName, FilterId: 'FailedBatches' },
        period: Duration.minutes(5),
        statistic: 'Sum',
      }),
      1,
    );
    this.redriveErrorsAlarm = alarm(
      'RedriveNotDoneAlarm',
      'Countersign: the hourly audit redrive failed or left failed batches out of the log; verify reports them as pending until they are in',
      errorsPlus(this.redrive.function, 'notRedriven', 'AuditBatchesNotRedriven', 'audit-redrive'),
      1,
    );
    this.reconcileDifferencesAlarm = alarm(
      'ReconcileDifferencesAlarm',
      'Countersign: the daily reconciliation found event items of the table missing from the audit log (or records the table does not hold); see the signed statement under reconciliations/ and the digest function\'s logs',
      new Metric({ namespace: 'Countersign', metricName: 'AuditReconcileDifferences', dimensionsMap: { service: 'audit-digest' }, period: Duration.hours(1), statistic: 'Maximum' }),
      1,
    );
    // An object the digest will not sign: not the audit writer's (its chain head does not vouch for it) or
    // not its records. One a writer's crash left behind its head is refused by one run and signed by the
    // next once the head moves, so the alarm wants two hourly runs in a row with a refusal.
    this.refusedObjectsAlarm = new Alarm(this, 'RefusedObjectsAlarm', {
      alarmDescription: 'Countersign: the hourly audit digest refused to sign audit objects in two runs in a row: objects the audit writer did not write (its chain head does not vouch for them) or that are not its records; they stay unsigned and verify names them; see the digest function\'s logs ("audit objects not signed")',
      metric: new Metric({ namespace: 'Countersign', metricName: 'AuditObjectsRefused', dimensionsMap: { service: 'audit-digest' }, period: Duration.hours(1), statistic: 'Maximum' }),
      threshold: 1,
      evaluationPeriods: 2,
      datapointsToAlarm: 2,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    // The audit key (the objects) and the signing key (the digests): losing either loses the evidence.
    this.keyGuard = new KeyGuard(this, 'KeyGuard', { keys: [this.key, this.signingKey], breakGlassPrincipalArn: props.breakGlassPrincipalArn });
    this.alarms = [this.iteratorAgeAlarm, this.writerErrorsAlarm, this.digestErrorsAlarm, this.compactErrorsAlarm, this.failedBatchesAlarm, this.redriveErrorsAlarm, this.reconcileDifferencesAlarm, this.refusedObjectsAlarm, this.keyGuard.alarm];
  }

}

/** The Glue/Athena type of an `AUDIT_COLUMNS`/`AUDIT_PARTITIONS` type; an unknown type fails the synth. */
export function glueType(type: string): string {
  switch (type) {
    case 'string':
    case 'timestamp':
    case 'array<string>':
    case 'bigint':
      return type;
    default:
      throw new Error(`AuditTrail: no Glue type for the audit column type "${type}"; add it to glueType in infra/constructs/audit-trail.ts`);
  }
}

/** Partition projection: no partitions to add or crawl; `dt` and `hour` are computed from the query's predicates. */
export function glueTableParameters(location: string, projectionRange: string): Record<string, string> {
  const [dt, hour] = AUDIT_PARTITIONS;
  return {
    classification: 'json',
    compressionType: 'gzip',
    'projection.enabled': 'true',
    [`projection.${dt.name}.type`]: 'date',
    [`projection.${dt.name}.format`]: 'yyyy-MM-dd',
    [`projection.${dt.name}.range`]: projectionRange,
    [`projection.${dt.name}.interval`]: '1',
    [`projection.${dt.name}.interval.unit`]: 'DAYS',
    [`projection.${hour.name}.type`]: 'integer',
    [`projection.${hour.name}.range`]: '0,23',
    [`projection.${hour.name}.digits`]: '2',
    'storage.location.template': `${location}${dt.name}=\${${dt.name}}/${hour.name}=\${${hour.name}}/`,
  };
}

/** The columnar table's projection: `dt` only (a part holds a day); the manifests beside the files are not Parquet and Athena skips them by name (see README). */
export function columnarTableParameters(location: string, projectionRange: string): Record<string, string> {
  const [dt] = AUDIT_PARTITIONS;
  return {
    classification: 'parquet',
    'projection.enabled': 'true',
    [`projection.${dt.name}.type`]: 'date',
    [`projection.${dt.name}.format`]: 'yyyy-MM-dd',
    [`projection.${dt.name}.range`]: projectionRange,
    [`projection.${dt.name}.interval`]: '1',
    [`projection.${dt.name}.interval.unit`]: 'DAYS',
    'storage.location.template': `${location}${dt.name}=\${${dt.name}}/`,
  };
}

function wholeDays(id: string, name: string, duration: Duration, min: number, max: number): number {
  const days = duration.toHours() / 24;
  if (!Number.isInteger(days) || days < min || days > max) {
    throw new Error(`AuditTrail ${id}: ${name} must be a whole number of days from ${min} to ${max} (got ${duration.toHumanString()})`);
  }
  return days;
}

function checkSavedQueries(id: string, queries: readonly NamedQuerySpec[]): readonly NamedQuerySpec[] {
  const seen = new Set<string>();
  for (const query of queries) {
    if (!/^[A-Za-z0-9][A-Za-z0-9 _.-]{0,127}$/.test(query.name)) {
      throw new Error(`AuditTrail ${id}: saved query name "${query.name}" must be 1-128 letters, digits, spaces, "_", "." or "-"`);
    }
    const key = pascal(query.name);
    if (seen.has(key)) throw new Error(`AuditTrail ${id}: saved query "${query.name}" is listed twice (names must be unique)`);
    seen.add(key);
    if (query.sql.trim() === '' || query.sql.length > 262_144) {
      throw new Error(`AuditTrail ${id}: saved query "${query.name}" must have SQL of 1 to 262,144 characters`);
    }
    if (query.description.length > 1024) {
      throw new Error(`AuditTrail ${id}: saved query "${query.name}" has a description over Athena's 1,024 characters`);
    }
  }
  return queries;
}

function pascal(name: string): string {
  return name
    .split(/[^A-Za-z0-9]+/)
    .filter((part) => part !== '')
    .map((part) => part[0]!.toUpperCase() + part.slice(1))
    .join('');
}
