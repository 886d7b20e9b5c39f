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

/** A size as a range, not a count: an exact length beside a hash would let a short value be guessed back. */
function sizeRange(characters: number): string {
  if (characters === 0) return 'no text';
  if (characters < 100) return 'under 100 characters';
  const power = 10 ** Math.floor(Math.log10(characters));
  return `${power.toLocaleString('en-US')}-${(power * 10).toLocaleString('en-US')} characters`;
}

/**
 * What a result holds, without its content, for an upstream configured with `reportResults: "digest"`:
 * the kinds of its contents and the size of all its text (text contents, embedded text resources and
 * structured content) as a range. No hash: the SHA-256 of a short result (a salary, a code) can be guessed
 * back from the audit log, so in this mode the report carries none.
 */
export function digestToolResult(result: CallToolResult): string {
  const kinds = new Map<string, number>();
  let characters = result.structuredContent === undefined ? 0 : JSON.stringify(result.structuredContent).length;
  for (const content of result.content) {
    kinds.set(content.type, (kinds.get(content.type) ?? 0) + 1);
    if (content.type === 'text') characters += content.text.length;
    else if (content.type === 'resource') characters += 'text' in content.resource && typeof content.resource.text === 'string' ? content.resource.text.length : 0;
  }
  const listed = [...kinds].map(([kind, count]) => `${count} ${kind}`).join(', ');
  const structured = result.structuredContent === undefined ? '' : `${listed === '' ? '' : ', '}structured content`;
  return `${listed === '' && structured === '' ? 'no content' : `${listed}${structured}`}; ${sizeRange(characters)}; content not reported (reportResults: digest)`;
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
