/**
 * The agent client: send `Action Requested`, wait for the decision, run an action only when it is
 * allowed or approved, exactly as approved and within its validity, and report what ran (`Action Executed`).
 */
export {
  backoffDelay,
  createAgentClient,
  decisionUrl,
  localAgentClient,
  networkErrorCode,
  reportedError,
  resultOf,
  DEFAULT_EVENT_BUS_NAME,
  DEFAULT_LOCAL_URL,
  DEFAULT_POLL_INTERVAL_MS,
  DEFAULT_WAIT_TIMEOUT_MS,
  type ActionSpec,
  type AgentClient,
  type AgentClientOptions,
  type ExecutionCredentials,
  type ExecutionReport,
  type GuardOptions,
  type ReportOptions,
  type SentRequest,
  type WaitForDecisionOptions,
  type WaitOptions,
} from './agent-client.js';
export {
  isApproval,
  type ApprovalDecision,
  type DeepReadonly,
  type ExecutionRecord,
  type FinalDecision,
  type GuardedApproval,
  type PendingDecision,
  type RefusalDecision,
  type Reviewer,
} from './decision.js';
export {
  ActionNotPermittedError,
  ApprovalAlreadyUsedError,
  ApprovalExpiredError,
  CountersignAccessDeniedError,
  CountersignClientError,
  CountersignUnreachableError,
  CredentialsRefusedError,
  DecisionTimeoutError,
  ExecutionReportError,
  InvalidActionRequestError,
  InvalidExecutionReportError,
  PayloadChangedError,
  PayloadMismatchError,
  PutEventsFailedError,
  UnexpectedResponseError,
} from './errors.js';
export { isLocalUrl, regionOfFunctionUrl, sigV4Signer, type Credentials, type RequestSigner } from './sigv4.js';
