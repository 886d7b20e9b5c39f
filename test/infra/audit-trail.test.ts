import { readFileSync } from 'node:fs';
import { App, Duration, Stack, type CfnElement } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AttributeType, Table } from 'aws-cdk-lib/aws-dynamodb';
import { Schedule } from 'aws-cdk-lib/aws-scheduler';
import { describe, expect, it } from 'vitest';
import { AUDIT_BUCKET_DENIED_ACTIONS, AuditTrail, WRITER_STREAM_SETTINGS, glueType, namedQueryOf, type AuditTrailProps, type NamedQuerySpec } from '../../infra/constructs/audit-trail.js';
import { DecisionStore } from '../../infra/constructs/decision-store.js';
import { CountersignStack, type CountersignStackProps } from '../../infra/countersign-stack.js';
import { AUDIT_COLUMNS, AUDIT_PARTITIONS, AUDIT_TABLE_NAME } from '../../shared/audit/format.js';
import { COLUMNAR_TABLE_NAME, SAVED_QUERIES } from '../../shared/audit/queries.js';
import { COLUMNAR_COLUMNS } from '../../shared/audit/columnar.js';
import { ENV } from '../../shared/config.js';
import { cdkJsonContext, testApp } from '../support/cdk-app.js';

type Json = Record<string, unknown>;
type Resource = { Type: string; Properties?: Json; DeletionPolicy?: string; UpdateReplacePolicy?: string; DependsOn?: string[] };
type Resources = Record<string, Resource>;

const FIXTURE_QUERIES: NamedQuerySpec[] = [
  { name: 'actions-by-agent', description: 'Actions by agent over a time range', sql: "SELECT * FROM audit_events WHERE agent_id = ? AND dt BETWEEN ? AND ?" },
  { name: 'refused-votes', description: 'Refused votes', sql: "SELECT * FROM audit_events WHERE event_type = 'vote_refused'" },
];

function synth(props: Partial<CountersignStackProps> = {}) {
  const app = testApp();
  const stack = new CountersignStack(app, 'Countersign-test', { stage: 'test', ...props });
  return { stack, template: Template.fromStack(stack) };
}

/** The construct alone, on a fresh table, for the props. */
function synthConstruct(props: Partial<AuditTrailProps> = {}) {
  const app = testApp();
  const stack = new Stack(app, 'Audit');
  const store = new DecisionStore(stack, 'Store');
  const trail = new AuditTrail(stack, 'AuditTrail', { table: store.table, ...props });
  return { stack, trail, template: Template.fromStack(stack) };
}

const { stack, template } = synth({ auditQueries: FIXTURE_QUERIES });
const resources = template.toJSON().Resources as Resources;
const trail = stack.auditTrail;
const id = (element: unknown) => stack.getLogicalId(element as CfnElement);
const bucketId = id(trail.bucket.node.defaultChild);
const logsBucketId = id(trail.accessLogsBucket.node.defaultChild);
const failureBucketId = id(trail.failureBucket.node.defaultChild);
const resultsBucketId = id(trail.queryResultsBucket.node.defaultChild);
const keyId = id(trail.key.node.defaultChild);
const signingKeyId = id(trail.signingKey.node.defaultChild);
const writerId = id(trail.writer.function.node.defaultChild);
const digestId = id(trail.digest.function.node.defaultChild);
const writerRoleId = id(trail.writer.role.node.defaultChild);
const digestRoleId = id(trail.digest.role.node.defaultChild);
const redriveId = id(trail.redrive.function.node.defaultChild);
const redriveRoleId = id(trail.redrive.role.node.defaultChild);
const compactId = id(trail.compact.function.node.defaultChild);
const compactRoleId = id(trail.compact.role.node.defaultChild);
const schedulerRoleIdOf = () => id(trail.schedulerRole.node.defaultChild);
const tableId = id(stack.store.table.node.defaultChild);
const getAtt = (logicalId: string, attribute = 'Arn') => ({ 'Fn::GetAtt': [logicalId, attribute] });
const objectsOf = (logicalId: string, path: string) => ({ 'Fn::Join': ['', [getAtt(logicalId), `/${path}`]] });

function bucketPolicyStatements(bucket: string): Json[] {
  const policies = Object.values(template.findResources('AWS::S3::BucketPolicy') as Resources).filter(
    (policy) => JSON.stringify(policy.Properties?.Bucket) === JSON.stringify({ Ref: bucket }),
  );
  expect(policies, `policy of ${bucket}`).toHaveLength(1);
  return (policies[0]!.Properties!.PolicyDocument as { Statement: Json[] }).Statement;
}

describe('the locked audit bucket', () => {
  it('has Object Lock in COMPLIANCE mode with a 365-day default retention, and versioning', () => {
    expect(resources[bucketId]?.Properties).toMatchObject({
      ObjectLockEnabled: true,
      ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 365 } } },
      VersioningConfiguration: { Status: 'Enabled' },
    });
  });

  it('is encrypted with the customer-managed audit key (rotated, retained), private, and retained', () => {
    expect(resources[bucketId]).toMatchObject({
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: {
        BucketEncryption: { ServerSideEncryptionConfiguration: [{ BucketKeyEnabled: true, ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: getAtt(keyId) } }] },
        PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
        OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
      },
    });
    expect(resources[keyId]).toMatchObject({ DeletionPolicy: 'Retain', Properties: { EnableKeyRotation: true } });
  });

  it('logs server access to the separate access-log bucket (SSE-S3, private, TLS only, retained)', () => {
    expect(resources[bucketId]?.Properties?.LoggingConfiguration).toEqual({ DestinationBucketName: { Ref: logsBucketId }, LogFilePrefix: 'audit/' });
    expect(resources[logsBucketId]).toMatchObject({
      DeletionPolicy: 'Retain',
      Properties: {
        BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
        PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      },
    });
    // Delivered under a bucket policy for the logging service, from these buckets only; no ACL.
    expect(resources[logsBucketId]?.Properties?.AccessControl).toBeUndefined();
    const statements = bucketPolicyStatements(logsBucketId);
    for (const [source, prefix] of [[bucketId, 'audit'], [failureBucketId, 'failures'], [resultsBucketId, 'query-results']] as const) {
      expect(statements).toContainEqual(
        expect.objectContaining({
          Effect: 'Allow',
          Principal: { Service: 'logging.s3.amazonaws.com' },
          Action: 's3:PutObject',
          Resource: objectsOf(logsBucketId, `${prefix}/*`),
          Condition: { ArnLike: { 'aws:SourceArn': getAtt(source) }, StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
        }),
      );
    }
  });

  it('refuses plain HTTP, and denies deletes and governance bypass to every principal', () => {
    const statements = bucketPolicyStatements(bucketId);
    expect(statements).toContainEqual(expect.objectContaining({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }));
    expect(statements).toContainEqual({
      Sid: 'NoDeletesNoBypass',
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Action: ['s3:BypassGovernanceRetention', 's3:DeleteObject', 's3:DeleteObjectVersion'],
      Resource: objectsOf(bucketId, '*'),
    });
    expect([...AUDIT_BUCKET_DENIED_ACTIONS].sort()).toEqual(['s3:BypassGovernanceRetention', 's3:DeleteObject', 's3:DeleteObjectVersion']);
  });

  it('denies every object-creating PutObject without If-None-Match to every principal: nobody can overwrite a key as a new version', () => {
    expect(bucketPolicyStatements(bucketId)).toContainEqual({
      Sid: 'NoOverwrites',
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Action: 's3:PutObject',
      Resource: objectsOf(bucketId, '*'),
      Condition: { Null: { 's3:if-none-match': 'true' }, Bool: { 's3:ObjectCreationOperation': 'true' } },
    });
  });

  it('denies s3:PutObjectRetention to everyone but the writer, redrive, digest and compact roles (PutObject with a retention date needs it)', () => {
    expect(bucketPolicyStatements(bucketId)).toContainEqual({
      Sid: 'OnlyAuditWritersSetRetention',
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Action: 's3:PutObjectRetention',
      Resource: objectsOf(bucketId, '*'),
      Condition: { ArnNotEquals: { 'aws:PrincipalArn': [getAtt(writerRoleId), getAtt(redriveRoleId), getAtt(digestRoleId), getAtt(compactRoleId)] } },
    });
  });

  it('denies adding lifecycle rules (they would expire versions once retention ends) and has none', () => {
    expect(bucketPolicyStatements(bucketId)).toContainEqual({
      Sid: 'NoLifecycleRules',
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Action: 's3:PutLifecycleConfiguration',
      Resource: getAtt(bucketId),
    });
    expect(resources[bucketId]?.Properties?.LifecycleConfiguration).toBeUndefined();
  });

  it('allows nothing in its bucket policy: access comes from IAM grants only', () => {
    expect(bucketPolicyStatements(bucketId).filter((s) => s.Effect === 'Allow')).toEqual([]);
  });

  it('takes the retention from the stack prop auditRetention', () => {
    const t = synth({ auditRetention: Duration.days(2555) }).template;
    t.hasResourceProperties('AWS::S3::Bucket', { ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 2555 } } } });
    t.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ POWERTOOLS_SERVICE_NAME: 'audit-writer', [ENV.auditRetentionDays]: '2555' }) } });
  });

  it.each([
    [Duration.hours(36), /retention must be a whole number of days from 1 to 36500 \(got 1 day 12 hours\)/],
    [Duration.days(0), /retention must be a whole number of days from 1 to 36500/],
    [Duration.days(36_501), /retention must be a whole number of days from 1 to 36500/],
  ])('rejects the retention %s', (retention, message) => {
    expect(() => synth({ auditRetention: retention })).toThrow(message);
  });
});

describe('the failure and query-result buckets', () => {
  it.each([
    ['failure', failureBucketId, 'failures/'],
    ['query results', resultsBucketId, 'query-results/'],
  ])('the %s bucket is KMS-encrypted with the audit key, private, TLS only, logged and retained', (_name, bucket, prefix) => {
    expect(resources[bucket]).toMatchObject({
      DeletionPolicy: 'Retain',
      Properties: {
        BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: getAtt(keyId) } }] },
        PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
        LoggingConfiguration: { DestinationBucketName: { Ref: logsBucketId }, LogFilePrefix: prefix },
      },
    });
    expect(bucketPolicyStatements(bucket)).toContainEqual(expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }));
  });

  it('keeps failed batches (no expiry) and expires query results after 30 days', () => {
    expect(resources[failureBucketId]?.Properties?.LifecycleConfiguration).toBeUndefined();
    expect(resources[resultsBucketId]?.Properties?.LifecycleConfiguration).toEqual({
      Rules: [expect.objectContaining({ Status: 'Enabled', ExpirationInDays: 30, NoncurrentVersionExpiration: { NoncurrentDays: 1 }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } })],
    });
    synthConstruct({ queryResultsExpiration: Duration.days(7) }).template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: { Rules: [Match.objectLike({ ExpirationInDays: 7 })] },
    });
  });
});

describe('audit-writer on the table stream', () => {
  const [mappingId, mapping] = Object.entries(template.findResources('AWS::Lambda::EventSourceMapping') as Resources)[0]!;

  it('is the only event source mapping, on the table stream, for the writer', () => {
    expect(Object.keys(template.findResources('AWS::Lambda::EventSourceMapping'))).toEqual([mappingId]);
    expect(mapping.Properties).toMatchObject({ EventSourceArn: getAtt(tableId, 'StreamArn'), FunctionName: { Ref: writerId }, StartingPosition: 'TRIM_HORIZON' });
  });

  it('gets new event items and new request items marked as their requested event only, filtered at the event source', () => {
    const filters = (mapping.Properties?.FilterCriteria as { Filters: Array<{ Pattern: string }> }).Filters;
    expect(filters.map((f) => JSON.parse(f.Pattern))).toEqual([
      { eventName: ['INSERT'], dynamodb: { NewImage: { kind: { S: ['event'] } } } },
      { eventName: ['INSERT'], dynamodb: { NewImage: { kind: { S: ['request'] }, auditEvent: { S: ['requested'] } } } },
    ]);
  });

  it('processes each shard in order with partial batch responses, bisects on error, gives up below the 24-hour stream retention', () => {
    expect(mapping.Properties).toMatchObject({
      ParallelizationFactor: 1,
      // The window is what makes Lambda pass the shard id the chain is keyed by.
      TumblingWindowInSeconds: 900,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BisectBatchOnFunctionError: true,
      MaximumRetryAttempts: WRITER_STREAM_SETTINGS.retryAttempts,
      MaximumRecordAgeInSeconds: 6 * 3600,
      MetricsConfig: { Metrics: ['EventCount'] },
    });
    expect(mapping.Properties?.MaximumRecordAgeInSeconds as number).toBeLessThan(24 * 3600);
  });

  it('batches up to 1,000 records or 60 seconds, so that objects are not tiny under load', () => {
    expect(mapping.Properties).toMatchObject({ BatchSize: 1000, MaximumBatchingWindowInSeconds: 60 });
  });

  it('sends failed batches, payload included, to the failure bucket (an S3 on-failure destination)', () => {
    expect(mapping.Properties?.DestinationConfig).toEqual({ OnFailure: { Destination: getAtt(failureBucketId) } });
  });

  it('is created after the writer role and its policies (Lambda checks the stream permissions then)', () => {
    expect(mapping.DependsOn).toEqual(expect.arrayContaining([writerRoleId, id(trail.writer.role.node.tryFindChild('DefaultPolicy')?.node.defaultChild)]));
  });

  it('tells the writer the table, the bucket and the retention', () => {
    expect((resources[writerId]?.Properties?.Environment as { Variables: Json }).Variables).toMatchObject({
      [ENV.tableName]: { Ref: tableId },
      [ENV.auditBucket]: { Ref: bucketId },
      [ENV.auditRetentionDays]: '365',
    });
    expect(resources[writerId]?.Properties).toMatchObject({ Timeout: 120, MemorySize: 1024 });
  });
});

describe('CDK feature flags', () => {
  it('come from the app (cdk.json), not from inside the construct: an app without the S3 access-log flag is refused by name', () => {
    expect(cdkJsonContext()['@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy']).toBe(true);
    const bare = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    expect(() => new CountersignStack(bare, 'Countersign-noflag', { stage: 'test' })).toThrow(/CDK feature flag "@aws-cdk\/aws-s3:serverAccessLogsUseBucketPolicy" must be true \(cdk\.json's context sets it/);
  });
});

describe('the hourly digest', () => {
  const scheduleId = id(trail.schedule.node.defaultChild);
  const schedule = resources[scheduleId]!;
  const schedulerRoleId = id(trail.schedulerRole.node.defaultChild);

  it('is the L2 Schedule with the LambdaInvoke target, not a hand-rolled CfnSchedule', () => {
    expect(trail.schedule).toBeInstanceOf(Schedule);
  });

  it('runs audit-digest ten minutes past every hour (UTC), with retries, through its own role', () => {
    expect(Object.keys(template.findResources('AWS::Scheduler::Schedule')).sort()).toEqual([scheduleId, id(trail.redriveSchedule.node.defaultChild), id(trail.compactSchedule.node.defaultChild)].sort());
    expect(schedule.Properties).toMatchObject({
      ScheduleExpression: 'cron(10 * * * ? *)',
      ScheduleExpressionTimezone: 'UTC',
      State: 'ENABLED',
      FlexibleTimeWindow: { Mode: 'OFF' },
      Target: { Arn: getAtt(digestId), RoleArn: getAtt(schedulerRoleId), RetryPolicy: { MaximumRetryAttempts: 10, MaximumEventAgeInSeconds: 3600 } },
    });
  });

  it('the schedule role is assumable by EventBridge Scheduler of this account only', () => {
    expect(resources[schedulerRoleId]?.Properties?.AssumeRolePolicyDocument).toEqual({
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Action: 'sts:AssumeRole', Principal: { Service: 'scheduler.amazonaws.com' }, Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } } },
      ],
    });
  });

  it('tells the digest function the bucket, the retention and the signing key', () => {
    expect((resources[digestId]?.Properties?.Environment as { Variables: Json }).Variables).toMatchObject({
      [ENV.auditBucket]: { Ref: bucketId },
      [ENV.auditRetentionDays]: '365',
      [ENV.digestKeyId]: getAtt(signingKeyId),
    });
  });

  it('signs with an asymmetric ECC_NIST_P256 SIGN_VERIFY key that is retained', () => {
    expect(resources[signingKeyId]).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain', Properties: { KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' } });
    // Asymmetric keys cannot rotate; a new key would break the chain of signatures verifiers check.
    expect(resources[signingKeyId]?.Properties?.EnableKeyRotation).toBeUndefined();
  });

  it('whose key policy denies kms:Sign to every principal but the digest role', () => {
    const statements = (resources[signingKeyId]?.Properties?.KeyPolicy as { Statement: Json[] }).Statement;
    expect(statements).toContainEqual({
      Sid: 'OnlyTheDigestRoleSigns',
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Action: 'kms:Sign',
      Resource: '*',
      Condition: { ArnNotEquals: { 'aws:PrincipalArn': getAtt(digestRoleId) } },
    });
    // Besides it, only the account's usual delegation to IAM.
    expect(statements.filter((s) => s.Effect === 'Allow')).toEqual([expect.objectContaining({ Action: 'kms:*', Principal: { AWS: expect.anything() } })]);
  });
});

describe('Glue and Athena', () => {
  const [, database] = Object.entries(template.findResources('AWS::Glue::Database') as Resources)[0]!;
  const [, table] = Object.entries(template.findResources('AWS::Glue::Table') as Resources)[0]!;
  const tableInput = table.Properties?.TableInput as Json & { StorageDescriptor: Json; Parameters: Json };
  const location = { 'Fn::Join': ['', ['s3://', { Ref: bucketId }, '/audit/']] };

  it('has one database, named after the stack, and the audit_events table in it', () => {
    expect(Object.keys(template.findResources('AWS::Glue::Database'))).toHaveLength(1);
    expect(database.Properties).toMatchObject({ CatalogId: { Ref: 'AWS::AccountId' }, DatabaseInput: { Name: 'countersign_test_audit' } });
    expect(table.Properties).toMatchObject({ CatalogId: { Ref: 'AWS::AccountId' }, DatabaseName: 'countersign_test_audit' });
    expect(tableInput).toMatchObject({ Name: AUDIT_TABLE_NAME, TableType: 'EXTERNAL_TABLE' });
  });

  it('has a second table, audit_events_columnar: Parquet under columnar/, the copy\'s columns, dt projected by day', () => {
    const columnar = resources[id(trail.columnarTable)]!;
    expect(Object.keys(template.findResources('AWS::Glue::Table'))).toHaveLength(2);
    const columnarLocation = { 'Fn::Join': ['', ['s3://', { Ref: bucketId }, '/columnar/']] };
    expect(columnar.DependsOn).toEqual(expect.arrayContaining([id(trail.database)]));
    expect(columnar.Properties).toEqual({
      CatalogId: { Ref: 'AWS::AccountId' },
      DatabaseName: 'countersign_test_audit',
      TableInput: {
        Name: COLUMNAR_TABLE_NAME,
        Description: expect.stringContaining('Parquet'),
        TableType: 'EXTERNAL_TABLE',
        Parameters: {
          classification: 'parquet',
          'projection.enabled': 'true',
          'projection.dt.type': 'date',
          'projection.dt.format': 'yyyy-MM-dd',
          'projection.dt.range': 'NOW-10YEARS,NOW',
          'projection.dt.interval': '1',
          'projection.dt.interval.unit': 'DAYS',
          'storage.location.template': { 'Fn::Join': ['', ['s3://', { Ref: bucketId }, '/columnar/dt=${dt}/']] },
        },
        PartitionKeys: [{ Name: 'dt', Type: 'string' }],
        StorageDescriptor: {
          Columns: COLUMNAR_COLUMNS.map((c) => ({ Name: c.name, Type: c.type })),
          Location: columnarLocation,
          InputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
          OutputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat',
          SerdeInfo: { SerializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe' },
        },
      },
    });
    // The copy's columns are the NDJSON table's, then hour and object_key.
    expect(COLUMNAR_COLUMNS.map((c) => c.name)).toEqual([...AUDIT_COLUMNS.map((c) => c.name), 'hour', 'object_key']);
  });

  it('the shipped saved queries read Parquet before the latest compacted day and NDJSON from it, and depend on both tables', () => {
    const shipped = synth();
    const named = Object.values(shipped.template.findResources('AWS::Athena::NamedQuery') as Resources);
    expect(named.length).toBe(SAVED_QUERIES.length);
    for (const query of named) {
      const text = query.Properties!.QueryString as string;
      expect(text).toContain(`FROM ${COLUMNAR_TABLE_NAME} WHERE dt < (SELECT coalesce(max(dt), '') FROM ${COLUMNAR_TABLE_NAME})`);
      expect(text).toContain(`FROM ${AUDIT_TABLE_NAME} WHERE dt >= (SELECT coalesce(max(dt), '') FROM ${COLUMNAR_TABLE_NAME})`);
      expect(query.DependsOn).toEqual(expect.arrayContaining([shipped.stack.getLogicalId(shipped.stack.auditTrail.columnarTable), shipped.stack.getLogicalId(shipped.stack.auditTrail.glueTable)]));
    }
  });

  it('has exactly the AUDIT_COLUMNS, in order, and the AUDIT_PARTITIONS', () => {
    expect(tableInput.StorageDescriptor.Columns).toEqual(AUDIT_COLUMNS.map((c) => ({ Name: c.name, Type: c.type })));
    expect(tableInput.PartitionKeys).toEqual(AUDIT_PARTITIONS.map((c) => ({ Name: c.name, Type: c.type })));
    expect(AUDIT_COLUMNS.map((c) => c.name)).toContain('occurred_at');
  });

  it('reads gzip newline-delimited JSON under s3://<bucket>/audit/ with the Hive JSON SerDe, parsing occurred_at as written (pinned: DuckDB cannot check it)', () => {
    expect(tableInput.StorageDescriptor).toEqual({
      Columns: AUDIT_COLUMNS.map((c) => ({ Name: c.name, Type: c.type })),
      Location: location,
      InputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
      OutputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
      Compressed: true,
      SerdeInfo: {
        SerializationLibrary: 'org.apache.hive.hcatalog.data.JsonSerDe',
        Parameters: { 'timestamp.formats': "yyyy-MM-dd'T'HH:mm:ss.SSS'Z',yyyy-MM-dd'T'HH:mm:ss.S'Z',yyyy-MM-dd'T'HH:mm:ss'Z'" },
      },
    });
    expect(AUDIT_COLUMNS.find((c) => c.name === 'occurred_at')?.type).toBe('timestamp');
  });

  it.each(SAVED_QUERIES.map((q) => [q.name, q.sql] as const))('saved query %s keeps to SQL that both Athena (Trino) and DuckDB run: no engine-only syntax', (_name, sql) => {
    // DuckDB-only: casts with ::, ILIKE, QUALIFY, strftime/epoch_ms/list_* functions, -> / ->> JSON operators,
    // double-quoted strings. Athena-only: from_iso8601_*, date_parse, json_extract*, cardinality, TRY(.
    const engineOnly = /::|\bILIKE\b|\bQUALIFY\b|\bstrftime\s*\(|\bepoch_ms\s*\(|\blist_\w+\s*\(|->>?|"|\bfrom_iso8601_\w+\s*\(|\bdate_parse\s*\(|\bjson_extract\w*\s*\(|\bcardinality\s*\(|\bTRY\s*\(/i;
    expect(sql).not.toMatch(engineOnly);
  });

  it('writes occurred_at in the first timestamp format the table lists (ISO 8601, milliseconds, Z)', () => {
    const [first] = (tableInput.StorageDescriptor.SerdeInfo as { Parameters: Record<string, string> }).Parameters['timestamp.formats']!.split(',');
    expect(first).toBe("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'");
    const golden = readFileSync(new URL('../golden/audit-records.ndjson', import.meta.url), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { occurred_at: string });
    expect(golden.length).toBeGreaterThan(0);
    for (const record of golden) expect(record.occurred_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });

  it('projects the dt (date) and hour (two-digit integer) partitions onto the Hive-style key layout', () => {
    expect(tableInput.Parameters).toEqual({
      classification: 'json',
      compressionType: 'gzip',
      'projection.enabled': 'true',
      'projection.dt.type': 'date',
      'projection.dt.format': 'yyyy-MM-dd',
      'projection.dt.range': 'NOW-10YEARS,NOW',
      'projection.dt.interval': '1',
      'projection.dt.interval.unit': 'DAYS',
      'projection.hour.type': 'integer',
      'projection.hour.range': '0,23',
      'projection.hour.digits': '2',
      'storage.location.template': { 'Fn::Join': ['', ['s3://', { Ref: bucketId }, '/audit/dt=${dt}/hour=${hour}/']] },
    });
  });

  it('maps every audit column type to Glue and refuses one it does not know', () => {
    for (const column of AUDIT_COLUMNS) expect(() => glueType(column.type)).not.toThrow();
    expect(() => glueType('map<string,string>')).toThrow(/no Glue type for the audit column type "map<string,string>"/);
  });

  it('has a workgroup that enforces its KMS-encrypted result location in the results bucket and a 10 GiB scan cutoff', () => {
    template.hasResourceProperties('AWS::Athena::WorkGroup', {
      Name: 'Countersign-test-audit',
      State: 'ENABLED',
      WorkGroupConfiguration: {
        EnforceWorkGroupConfiguration: true,
        PublishCloudWatchMetricsEnabled: true,
        BytesScannedCutoffPerQuery: 10 * 1024 ** 3,
        ResultConfiguration: {
          OutputLocation: { 'Fn::Join': ['', ['s3://', { Ref: resultsBucketId }, '/athena/']] },
          EncryptionConfiguration: { EncryptionOption: 'SSE_KMS', KmsKey: getAtt(keyId) },
          ExpectedBucketOwner: { Ref: 'AWS::AccountId' },
        },
      },
    });
  });

  it('takes the scan cutoff as a prop and refuses one under Athena\'s 10 MB minimum', () => {
    synthConstruct({ bytesScannedCutoffPerQuery: 1024 ** 3 }).template.hasResourceProperties('AWS::Athena::WorkGroup', {
      WorkGroupConfiguration: Match.objectLike({ BytesScannedCutoffPerQuery: 1024 ** 3 }),
    });
    expect(() => synthConstruct({ bytesScannedCutoffPerQuery: 1000 })).toThrow(/bytesScannedCutoffPerQuery must be an integer of at least 10485760 bytes/);
  });

  it('ships one named query per saved query, in the workgroup and database', () => {
    const named = Object.values(template.findResources('AWS::Athena::NamedQuery') as Resources);
    expect(named.map((q) => q.Properties)).toEqual(
      FIXTURE_QUERIES.map((q) => ({ Name: q.name, Description: q.description, QueryString: q.sql, Database: 'countersign_test_audit', WorkGroup: 'Countersign-test-audit' })),
    );
    for (const query of named) expect(query.DependsOn).toEqual(expect.arrayContaining([id(trail.workGroup), id(trail.glueTable)]));
  });

  it('ships the quarantines query (issue 16): quarantine and lift records, every agent by default', () => {
    const named = Object.values(synth().template.findResources('AWS::Athena::NamedQuery') as Resources).map((q) => q.Properties!);
    const quarantines = named.find((q) => q.Name === 'quarantines');
    expect(quarantines).toMatchObject({ Description: expect.stringContaining('quarantines'), Database: 'countersign_test_audit', WorkGroup: 'Countersign-test-audit' });
    expect(quarantines?.QueryString).toContain("WHERE event_type IN ('agent_quarantined', 'agent_released')");
    expect(quarantines?.QueryString).toContain("AND ('' = '' OR agent_id = '')");
  });

  it('by default ships every saved query of shared/audit/queries.ts, parameters as their default literals', () => {
    const named = Object.values(synth().template.findResources('AWS::Athena::NamedQuery') as Resources).map((q) => q.Properties!);
    expect(named.map((q) => q.Name)).toEqual(SAVED_QUERIES.map((q) => q.name));
    expect(SAVED_QUERIES.length).toBeGreaterThanOrEqual(6);
    for (const [i, query] of SAVED_QUERIES.entries()) {
      const text = named[i]!.QueryString as string;
      expect(named[i]).toMatchObject({ Description: query.description, Database: 'countersign_test_audit', WorkGroup: 'Countersign-test-audit' });
      expect(text).toBe(namedQueryOf(query).sql);
      // No ":name" parameter is left for Athena to choke on; each default is there as a literal.
      const body = text.split('\n').filter((line) => !line.startsWith('--')).join('\n');
      expect(body, query.name).not.toMatch(/(?<!:):[a-z][a-z0-9_]*\b/);
      for (const [name, param] of Object.entries(query.params)) {
        expect(text, `${query.name} :${name}`).toContain(`'${param.default.replaceAll("'", "''")}'`);
      }
      expect(body).toContain(AUDIT_TABLE_NAME);
    }
  });

  it.each([
    [[FIXTURE_QUERIES[0]!, FIXTURE_QUERIES[0]!], /saved query "actions-by-agent" is listed twice/],
    [[{ name: 'x/y', description: '', sql: 'SELECT 1' }], /saved query name "x\/y" must be/],
    [[{ name: 'empty', description: '', sql: '  ' }], /saved query "empty" must have SQL/],
  ])('rejects bad saved queries (%#)', (savedQueries, message) => {
    expect(() => synthConstruct({ savedQueries })).toThrow(message);
  });
});

describe('the hourly redrive (issue 9: nothing is skipped for good)', () => {
  const redriveSchedule = resources[id(trail.redriveSchedule.node.defaultChild)]!;
  const roleOfSchedule = ((redriveSchedule.Properties!.Target as Json).RoleArn as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];

  it('runs audit-redrive five minutes past every hour (UTC), before the digest lists what it wrote, with retries, through its own role', () => {
    expect(redriveSchedule.Properties).toMatchObject({
      ScheduleExpression: 'cron(5 * * * ? *)',
      ScheduleExpressionTimezone: 'UTC',
      State: 'ENABLED',
      FlexibleTimeWindow: { Mode: 'OFF' },
      Target: { Arn: getAtt(redriveId), RetryPolicy: { MaximumRetryAttempts: 10, MaximumEventAgeInSeconds: 3600 } },
    });
    expect(roleOfSchedule).not.toBe(schedulerRoleIdOf());
  });

  it('tells the redrive the table, the audit and failure buckets and the retention', () => {
    expect((resources[redriveId]?.Properties?.Environment as { Variables: Json }).Variables).toMatchObject({
      [ENV.tableName]: expect.anything(),
      [ENV.auditBucket]: { Ref: bucketId },
      [ENV.auditFailureBucket]: { Ref: failureBucketId },
      [ENV.auditRetentionDays]: '365',
    });
  });

  it('alarms when the redrive fails or leaves batches out', () => {
    const alarmResource = resources[id(trail.redriveErrorsAlarm.node.defaultChild)]!;
    expect(JSON.stringify(alarmResource.Properties)).toContain('AuditBatchesNotRedriven');
    expect(alarmResource.Properties).toMatchObject({ Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold', TreatMissingData: 'notBreaching' });
  });
});

describe('the daily columnar copy (issue 15: Parquet that verify proves is the log)', () => {
  const compactSchedule = resources[id(trail.compactSchedule.node.defaultChild)]!;
  const roleOfSchedule = ((compactSchedule.Properties!.Target as Json).RoleArn as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];

  it('runs audit-compact daily at 00:20 UTC, after the 00:10 digest closed the day\'s last hour, with retries, through its own role', () => {
    expect(compactSchedule.Properties).toMatchObject({
      ScheduleExpression: 'cron(20 0 * * ? *)',
      ScheduleExpressionTimezone: 'UTC',
      State: 'ENABLED',
      FlexibleTimeWindow: { Mode: 'OFF' },
      Target: { Arn: getAtt(compactId), RetryPolicy: { MaximumRetryAttempts: 10, MaximumEventAgeInSeconds: 3600 } },
    });
    expect(roleOfSchedule).not.toBe(schedulerRoleIdOf());
    expect(roleOfSchedule).not.toBe(((resources[id(trail.redriveSchedule.node.defaultChild)]!.Properties!.Target as Json).RoleArn as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0]);
  });

  it('tells audit-compact the bucket and the retention (its files are locked as long as the objects)', () => {
    expect((resources[compactId]?.Properties?.Environment as { Variables: Json }).Variables).toMatchObject({
      [ENV.auditBucket]: { Ref: bucketId },
      [ENV.auditRetentionDays]: '365',
    });
  });

  it('alarms when the compaction fails or leaves objects uncopied', () => {
    const alarmResource = resources[id(trail.compactErrorsAlarm.node.defaultChild)]!;
    const text = JSON.stringify(alarmResource.Properties);
    expect(text).toContain('AuditColumnarRefused');
    expect(text).toContain(JSON.stringify({ Ref: compactId }));
    expect(alarmResource.Properties).toMatchObject({ Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold', TreatMissingData: 'notBreaching' });
  });
});

describe('alarms', () => {
  const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm') as Resources).map((a) => a.Properties!);

  it('on the writer falling behind the stream (iterator age over 15 minutes)', () => {
    expect(alarms).toContainEqual(
      expect.objectContaining({ Namespace: 'AWS/Lambda', MetricName: 'IteratorAge', Statistic: 'Maximum', Dimensions: [{ Name: 'FunctionName', Value: { Ref: writerId } }], Threshold: 15 * 60 * 1000 }),
    );
  });

  it.each([['writer', () => writerId], ['digest', () => digestId]])('on %s errors', (_name, fn) => {
    expect(alarms).toContainEqual(
      expect.objectContaining({ Namespace: 'AWS/Lambda', MetricName: 'Errors', Statistic: 'Sum', Dimensions: [{ Name: 'FunctionName', Value: { Ref: fn() } }], Threshold: 1 }),
    );
  });

  it('on objects the digest refused to sign in two hourly runs in a row (one refusal is a writer\'s crash window, healed by the next run)', () => {
    expect(alarms).toContainEqual(
      expect.objectContaining({
        Namespace: 'Countersign',
        MetricName: 'AuditObjectsRefused',
        Dimensions: [{ Name: 'service', Value: 'audit-digest' }],
        Statistic: 'Maximum',
        Period: 3600,
        Threshold: 1,
        EvaluationPeriods: 2,
        DatapointsToAlarm: 2,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
      }),
    );
  });

  it('on any batch reaching the failure bucket (S3 request metrics of the whole bucket)', () => {
    expect(resources[failureBucketId]?.Properties?.MetricsConfigurations).toEqual([{ Id: 'FailedBatches' }]);
    expect(alarms).toContainEqual(
      expect.objectContaining({
        Namespace: 'AWS/S3',
        MetricName: 'PutRequests',
        Statistic: 'Sum',
        Dimensions: expect.arrayContaining([{ Name: 'BucketName', Value: { Ref: failureBucketId } }, { Name: 'FilterId', Value: 'FailedBatches' }]),
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
      }),
    );
  });

  it('are all in stack.alarms', () => {
    const auditAlarms = trail.alarms.map((alarm) => id(alarm.node.defaultChild));
    expect(auditAlarms).toHaveLength(9);
    expect(stack.alarms.map((alarm) => id(alarm.node.defaultChild))).toEqual(expect.arrayContaining(auditAlarms));
  });
});

describe('outputs', () => {
  it('name the bucket, the workgroup, the database and the signing key', () => {
    template.hasOutput('AuditBucketName', { Value: { Ref: bucketId } });
    template.hasOutput('AuditFailureBucketName', { Value: { Ref: failureBucketId } });
    template.hasOutput('AthenaWorkGroup', { Value: 'Countersign-test-audit' });
    template.hasOutput('GlueDatabase', { Value: 'countersign_test_audit' });
    template.hasOutput('DigestSigningKeyArn', { Value: getAtt(signingKeyId) });
  });
});

describe('the construct\'s props', () => {
  it('needs a table with a stream', () => {
    const app = testApp();
    const s = new Stack(app, 'S');
    const table = new Table(s, 'NoStream', { partitionKey: { name: 'pk', type: AttributeType.STRING } });
    expect(() => new AuditTrail(s, 'AuditTrail', { table })).toThrow(/the table has no stream/);
  });

  it('rejects a database name Athena cannot use and a malformed projection range', () => {
    expect(() => synthConstruct({ databaseName: 'Audit-Log' })).toThrow(/databaseName "Audit-Log" must be/);
    expect(() => synthConstruct({ projectionRange: 'NOW-1YEARS' })).toThrow(/projectionRange must be "<start>,<end>"/);
  });
});
