import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Slack request signing, version v0:
 *   basestring = `v0:{X-Slack-Request-Timestamp}:{raw body}`
 *   X-Slack-Signature = `v0=` + hex(HMAC-SHA256(signing secret, basestring))
 * The raw body is the exact bytes Slack sent, before any form or JSON parsing (a Lambda Function
 * URL may hand it over base64-encoded: decode it first).
 */
export const SLACK_SIGNATURE_VERSION = 'v0';
export const SLACK_TIMESTAMP_HEADER = 'X-Slack-Request-Timestamp';
export const SLACK_SIGNATURE_HEADER = 'X-Slack-Signature';
/** Slack's advice: refuse requests whose timestamp is more than five minutes from the local clock (replays). */
export const SLACK_MAX_CLOCK_SKEW_SECONDS = 5 * 60;

export type SlackSignatureCheck = { ok: true } | { ok: false; status: 400 | 401; reason: string };

export interface VerifySlackSignatureInput {
  /** Request headers; names are matched case-insensitively. */
  headers: Record<string, string | undefined>;
  rawBody: string;
  signingSecret: string;
  /** The current time in Unix seconds (a parameter so tests and the local clock agree). */
  nowSeconds: number;
}

function header(headers: Record<string, string | undefined>, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === wanted && value !== undefined && value !== '') return value;
  }
  return undefined;
}

function hmacHex(signingSecret: string, timestamp: string, rawBody: string): string {
  return createHmac('sha256', signingSecret).update(`${SLACK_SIGNATURE_VERSION}:${timestamp}:${rawBody}`, 'utf8').digest('hex');
}

const TIMESTAMP_PATTERN = /^\d{1,12}$/;
const SIGNATURE_PATTERN = /^v0=([0-9a-fA-F]{64})$/;

/** Checks that a request came from Slack: its signature, and that it is not a replay. */
export function verifySlackSignature({ headers, rawBody, signingSecret, nowSeconds }: VerifySlackSignatureInput): SlackSignatureCheck {
  const timestamp = header(headers, SLACK_TIMESTAMP_HEADER);
  const signature = header(headers, SLACK_SIGNATURE_HEADER);
  const missing = [timestamp === undefined ? SLACK_TIMESTAMP_HEADER : undefined, signature === undefined ? SLACK_SIGNATURE_HEADER : undefined].filter((h) => h !== undefined);
  if (timestamp === undefined || signature === undefined) {
    return { ok: false, status: 400, reason: `missing ${missing.join(' and ')} header${missing.length > 1 ? 's' : ''}: requests from Slack are signed` };
  }
  if (!TIMESTAMP_PATTERN.test(timestamp)) {
    return { ok: false, status: 400, reason: `${SLACK_TIMESTAMP_HEADER} must be Unix seconds (digits only)` };
  }
  // A misconfigured function must not accept requests signed with an empty key.
  if (signingSecret === '') {
    return { ok: false, status: 401, reason: 'no Slack signing secret is configured, so no request can be verified' };
  }
  const skew = nowSeconds - Number(timestamp);
  if (skew > SLACK_MAX_CLOCK_SKEW_SECONDS) {
    return { ok: false, status: 401, reason: `stale request: ${SLACK_TIMESTAMP_HEADER} is ${skew} seconds old (limit ${SLACK_MAX_CLOCK_SKEW_SECONDS}); a replay is refused` };
  }
  if (-skew > SLACK_MAX_CLOCK_SKEW_SECONDS) {
    return { ok: false, status: 401, reason: `request from the future: ${SLACK_TIMESTAMP_HEADER} is ${-skew} seconds ahead (limit ${SLACK_MAX_CLOCK_SKEW_SECONDS})` };
  }
  const presented = SIGNATURE_PATTERN.exec(signature)?.[1];
  if (presented === undefined) {
    return { ok: false, status: 401, reason: `${SLACK_SIGNATURE_HEADER} is not of the form v0=<64 hex digits>` };
  }
  // Both sides are 32-byte digests, so timingSafeEqual never sees different lengths.
  const expected = Buffer.from(hmacHex(signingSecret, timestamp, rawBody), 'hex');
  if (!timingSafeEqual(expected, Buffer.from(presented, 'hex'))) {
    return { ok: false, status: 401, reason: `${SLACK_SIGNATURE_HEADER} does not match the body (wrong signing secret, or the body was altered)` };
  }
  return { ok: true };
}

export interface SignSlackRequestInput {
  rawBody: string;
  signingSecret: string;
  timestampSeconds: number;
}

/** Signs a request exactly as Slack does (the local Slack emulator and tests use it). */
export function signSlackRequest({ rawBody, signingSecret, timestampSeconds }: SignSlackRequestInput): { 'x-slack-request-timestamp': string; 'x-slack-signature': string } {
  const timestamp = String(Math.floor(timestampSeconds));
  return {
    'x-slack-request-timestamp': timestamp,
    'x-slack-signature': `${SLACK_SIGNATURE_VERSION}=${hmacHex(signingSecret, timestamp, rawBody)}`,
  };
}
