import { LogLevel, SlackError, WebAPIPlatformError, WebClient, type Logger, type RetryOptions } from '@slack/web-api';
import type { Directory } from '../../domain/directory.js';
import type { MessageRef, ReviewChannel, ReviewView } from '../../ports/review.js';
import { alertMessage, denyModal, noticeText, quarantineModal, reviewMessage, threadNote } from '../../slack/render.js';

/**
 * A Slack Web API call that failed. `code` is Slack's error code for an `ok: false` answer
 * (`channel_not_found`, `not_in_channel`, `invalid_blocks`, `expired_trigger_id`, …), or the
 * client's code when no answer came (`slack_webapi_request_error`, `slack_webapi_http_error`, …).
 */
export class SlackApiError extends Error {
  constructor(
    readonly method: string,
    readonly code: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'SlackApiError';
  }
}

/**
 * Retries for one Web API call, bounded so a call ends well inside a Lambda timeout.
 *
 * How @slack/web-api 8 handles rate limits (dist/WebClient.js `makeRequest`): on HTTP 429 with a
 * `Retry-After` header, and with `rejectRateLimitedCalls: false` (the default, kept here), it pauses
 * its request queue for Retry-After seconds, then throws a retryable error, so `retryConfig` (p-retry)
 * sends the call again after its own backoff. Network errors and non-200 HTTP answers are retried
 * the same way; an `ok: false` answer is not retried (it is Slack's verdict, surfaced as
 * SlackApiError). A 429 without a usable Retry-After fails at once.
 *
 * Worst case per call: 4 attempts of at most SLACK_REQUEST_TIMEOUT_MS each, with backoffs of 0.25,
 * 0.5 and 1 s between them (randomized up to twice that): about 24 s, plus the Retry-After of each
 * 429. Beyond that the call fails and the workflow's own retry of the task takes over. A retried
 * post whose first attempt reached Slack may post twice: callers that must not duplicate a message
 * store the returned MessageRef and update it instead of posting again.
 */
export const SLACK_RETRY_CONFIG: RetryOptions = { retries: 3, factor: 2, minTimeout: 250, maxTimeout: 2_000, randomize: true };
export const SLACK_REQUEST_TIMEOUT_MS = 5_000;

/**
 * For the interactions function, which must answer Slack within 3 seconds and whose trigger ids
 * (views.open) expire after 3 seconds: one quick retry, short attempts. A 429 still waits Retry-After.
 */
export const SLACK_INTERACTIVE_RETRY_CONFIG: RetryOptions = { retries: 1, factor: 1, minTimeout: 200, maxTimeout: 200 };
export const SLACK_INTERACTIVE_TIMEOUT_MS = 1_200;

export interface SlackWebClientOptions {
  token: string;
  /** Web API base URL, e.g. the local Slack emulator's. @default Slack's own, https://slack.com/api/ */
  slackApiUrl?: string;
  /** @default SLACK_RETRY_CONFIG */
  retryConfig?: RetryOptions;
  /** @default SLACK_REQUEST_TIMEOUT_MS */
  timeoutMs?: number;
  /** Where the client logs (rate-limit waits at info). @default the client's console logger at WARN */
  logger?: Logger;
  /**
   * For code that answers Slack itself (3-second budget): short retries and timeouts, and a 429 is
   * an error instead of a wait. @default false
   */
  interactive?: boolean;
}

export class SlackClientConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SlackClientConfigError';
  }
}

/**
 * Builds the WebClient the functions share (once per cold start). The token is sent only in the
 * Authorization header; the client redacts token and authorization fields from its debug logs, and
 * logs at WARN here, so neither requests nor tokens reach the logs. Absolute URLs as method names
 * are refused, so the token can only ever go to `slackApiUrl`.
 */
export function slackWebClient({ token, slackApiUrl, retryConfig, timeoutMs, logger, interactive }: SlackWebClientOptions): WebClient {
  if (token.trim() === '') throw new SlackClientConfigError('the Slack bot token is empty: set SLACK_BOT_TOKEN locally, or the botToken of the Slack secret in AWS');
  return new WebClient(token, {
    ...(slackApiUrl !== undefined ? { slackApiUrl } : {}),
    ...(logger !== undefined ? { logger } : { logLevel: LogLevel.WARN }),
    retryConfig: retryConfig ?? (interactive === true ? SLACK_INTERACTIVE_RETRY_CONFIG : SLACK_RETRY_CONFIG),
    // Waiting out a Retry-After is right for the workflow's posts, not while Slack waits for an answer.
    rejectRateLimitedCalls: interactive === true,
    timeout: timeoutMs ?? (interactive === true ? SLACK_INTERACTIVE_TIMEOUT_MS : SLACK_REQUEST_TIMEOUT_MS),
    allowAbsoluteUrls: false,
  });
}

async function call<T>(method: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof WebAPIPlatformError) {
      const details = error.data.response_metadata?.messages?.join('; ');
      throw new SlackApiError(method, error.data.error, `Slack ${method} failed: ${error.data.error}${details ? ` (${details})` : ''}`, { cause: error });
    }
    if (error instanceof SlackError) {
      throw new SlackApiError(method, error.code, `Slack ${method} failed after retries: ${error.message}`, { cause: error });
    }
    throw error;
  }
}

/** The review conversation in Slack (and in the local Slack emulator, through `slackApiUrl`). */
export class SlackReviewChannel implements ReviewChannel {
  constructor(
    private readonly client: WebClient,
    private readonly directory: Directory,
  ) {}

  private render(view: ReviewView) {
    return reviewMessage(view, { slackUserIdOf: (reviewerId) => this.directory.member(reviewerId)?.slackUserId });
  }

  async postReview(channelId: string, view: ReviewView): Promise<MessageRef> {
    const { text, blocks } = this.render(view);
    const result = await call('chat.postMessage', () =>
      this.client.chat.postMessage({ channel: channelId, text, blocks, unfurl_links: false, unfurl_media: false }),
    );
    if (result.ts === undefined) throw new SlackApiError('chat.postMessage', 'missing_ts', 'Slack chat.postMessage answered ok without the message ts');
    return { channel: result.channel ?? channelId, ts: result.ts };
  }

  async updateReview(message: MessageRef, view: ReviewView): Promise<void> {
    const { text, blocks } = this.render(view);
    await call('chat.update', () => this.client.chat.update({ channel: message.channel, ts: message.ts, text, blocks }));
  }

  async postThreadNote(message: MessageRef, text: string, mentionSlackUserIds: string[], deadline?: string): Promise<void> {
    const note = threadNote(text, mentionSlackUserIds, deadline);
    await call('chat.postMessage', () =>
      this.client.chat.postMessage({ channel: message.channel, thread_ts: message.ts, text: note.text, unfurl_links: false, unfurl_media: false }),
    );
  }

  async postAlert(channelId: string, text: string): Promise<void> {
    const message = alertMessage(text);
    await call('chat.postMessage', () => this.client.chat.postMessage({ channel: channelId, text: message.text, blocks: message.blocks, unfurl_links: false, unfurl_media: false }));
  }

  async notify(channelId: string, slackUserId: string, text: string): Promise<void> {
    await call('chat.postEphemeral', () => this.client.chat.postEphemeral({ channel: channelId, user: slackUserId, text: noticeText(text) }));
  }

  async openQuarantineModal(triggerId: string, view: ReviewView): Promise<void> {
    await call('views.open', () => this.client.views.open({ trigger_id: triggerId, view: quarantineModal(view) }));
  }

  async openDenyModal(triggerId: string, view: ReviewView): Promise<void> {
    await call('views.open', () => this.client.views.open({ trigger_id: triggerId, view: denyModal(view) }));
  }
}
