import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { canonicalJson, sha256Hex, wellFormedText } from '../shared/domain/canonical-json.js';
import { cutText } from '../shared/domain/cut-text.js';
import type { AgentClient, ExecutionReport } from '../client/index.js';
import { LIMITS } from '../shared/domain/contract.js';

/** The longest result summary an execution report carries (the `Action Executed` contract's limit). */
export const RESULT_SUMMARY_MAX_CHARS = LIMITS.resultSummaryMaxChars;

/** What the gateway reports after running an approved call: the client's `Action Executed` report. */
export type { ExecutionReport };

/**
 * The one seam through which the gateway reports executions. `report` must not throw for a report
 * that could not be delivered: the upstream has run by then, and its result still goes to the agent.
 */
export interface ExecutionReporter {
  report(execution: ExecutionReport): Promise<void>;
}

/** The result's text contents, joined and cut to the contract's limit; other contents by kind. */
export function summarizeToolResult(result: CallToolResult): string {
  const parts = result.content.map((content) => (content.type === 'text' ? content.text : `[${content.type}]`));
  const text = parts.join('\n').trim() || (result.structuredContent === undefined ? '(no content)' : JSON.stringify(result.structuredContent));
  return reportableText(text, RESULT_SUMMARY_MAX_CHARS);
}

/**
 * What a result holds, without its text: the kinds of its contents and the size of its text, for an upstream
 * configured with `reportResults: "digest"` (the whole result's SHA-256 is reported beside it).
 */
export function digestToolResult(result: CallToolResult): string {
  const kinds = new Map<string, number>();
  for (const content of result.content) kinds.set(content.type, (kinds.get(content.type) ?? 0) + 1);
  const characters = result.content.reduce((n, content) => n + (content.type === 'text' ? content.text.length : 0), 0);
  const listed = [...kinds].map(([kind, count]) => `${count} ${kind}`).join(', ');
  const structured = result.structuredContent === undefined ? '' : ', structured content';
  return `${listed === '' ? 'no content' : listed}${structured}; ${characters.toLocaleString('en-US')} characters of text, not reported (reportResults: digest)`;
}

/**
 * Text an upstream gave (a result, an error's message) as an execution report may carry it: lone
 * surrogates written as `\uXXXX` (the contract refuses them: the report would be lost), cut to `max`
 * without splitting a pair, with `...` when cut.
 */
export function reportableText(text: string, max: number): string {
  const whole = wellFormedText(text);
  return whole.length <= max ? whole : `${cutText(whole, max - 3)}...`;
}

/** SHA-256 of the canonical JSON of the whole result, so an auditor can match a stored copy to the report. */
export function toolResultSha256(result: CallToolResult): string {
  return sha256Hex(canonicalJson(JSON.parse(JSON.stringify(result)) as unknown));
}

/** Reports through the agent client (`Action Executed` on the bus, as the agent); says on the gateway's log what it sent. */
export function reportedExecutions(agent: Pick<AgentClient, 'reportExecution'>, log: (line: string) => void): ExecutionReporter {
  return {
    async report(execution) {
      const { eventId } = await agent.reportExecution(execution);
      log(`${execution.actionId}: execution ${execution.status} reported as Action Executed (event ${eventId})${execution.error === undefined ? '' : `: ${execution.error.code} ${execution.error.message}`}`);
    },
  };
}
