import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SFNClient } from '@aws-sdk/client-sfn';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import type { EventBridgeEvent } from 'aws-lambda';
import { EventBridgeEnvelopeSchema } from '../../shared/adapters/aws/eventbridge-envelope.js';
import { evaluateActionConfig } from '../../shared/config.js';
import { DynamoDecisionStore } from '../../shared/adapters/aws/dynamo-decision-store.js';
import { intakeFloodControl } from '../../shared/adapters/aws/intake-flood-control.js';
import { loadDirectoryFile } from '../../shared/review/directory-file.js';
import { EventBridgeEventPublisher } from '../../shared/adapters/aws/eventbridge-event-publisher.js';
import { SfnWorkflowStarter } from '../../shared/adapters/aws/sfn-workflow-starter.js';
import { instrumented } from '../../shared/adapters/aws/lambda-handler.js';
import { evaluateActionRequested, type IntakeDeps } from '../../shared/domain/intake.js';
import { CedarPolicyEngine } from '../../shared/policy/cedar-policy-engine.js';
import { defaultPolicyDir } from '../../shared/policy/load-policies.js';
import { shadowPolicyEngine } from '../../shared/policy/shadow-policies.js';

const config = evaluateActionConfig();
const logger = new Logger({ serviceName: 'evaluate-action' });
const metrics = new Metrics({ namespace: 'Countersign', serviceName: 'evaluate-action' });
const tracer = new Tracer({ serviceName: 'evaluate-action' });
// The shadow set (policies/shadow/) is evaluated beside the enforced one and only recorded.
const shadowPolicy = shadowPolicyEngine(config.policyDir ?? defaultPolicyDir());
const dynamo = tracer.captureAWSv3Client(new DynamoDBClient({}));
const deps: IntakeDeps = {
  // The prepared form synth wrote into the bundle (validated then); a stale or broken one fails the cold start loudly.
  policy: CedarPolicyEngine.load(config.policyDir),
  // From its own prepared form in the bundle, like the enforced set (made and validated at synth).
  ...(shadowPolicy === undefined ? {} : { shadowPolicy }),
  store: new DynamoDecisionStore(dynamo, config.tableName),
  publisher: new EventBridgeEventPublisher(tracer.captureAWSv3Client(new EventBridgeClient({})), config.eventBusName),
  workflow: config.approvalStateMachineArn === undefined
    ? undefined
    : new SfnWorkflowStarter(tracer.captureAWSv3Client(new SFNClient({})), config.approvalStateMachineArn),
  now: () => new Date(),
  // Per-agent limits, duplicate refusal and quarantine; a burst is announced on the bus (publisher), not posted from here.
  flood: intakeFloodControl(dynamo, config.tableName, loadDirectoryFile(config.directoryFile)),
};

export const handler = instrumented({ logger, tracer, metrics }, async (event: EventBridgeEvent<string, unknown>) => {
  // Only EventBridge invokes this function: an envelope that does not parse is a wiring fault, retried then sent to the DLQ.
  const envelope = EventBridgeEnvelopeSchema.parse(event);
  const result = await evaluateActionRequested(
    { id: envelope.id, source: envelope.source, detailType: envelope['detail-type'], detail: envelope.detail, ...(envelope['replay-name'] === undefined ? {} : { replayName: envelope['replay-name'] }) },
    deps,
  );
  const { record } = result;
  const summary = { status: result.status, key: record.key, outcome: record.outcome, reason: record.reason, policyIds: record.policyIds, shadowOutcome: record.shadow?.outcome, dispatched: result.dispatched, limit: result.limit ?? null };
  if ((result.warnings ?? []).length > 0) logger.warn('request evaluated with warnings', { key: record.key, warnings: result.warnings });
  if (result.status === 'conflict') logger.warn('request refused: actionId already used for a different request', summary);
  else logger.info('request evaluated', summary);
  metrics.addDimension('outcome', result.status === 'conflict' ? 'conflict' : record.outcome);
  metrics.addMetric(result.status === 'created' ? 'RequestsDecided' : result.status === 'duplicate' ? 'DuplicateDeliveries' : 'RequestConflicts', MetricUnit.Count, 1);
  return summary;
});
