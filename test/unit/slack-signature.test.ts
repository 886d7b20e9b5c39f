import { describe, expect, it } from 'vitest';
import { signSlackRequest, verifySlackSignature } from '../../shared/slack/verify-signature.js';

// Slack's own example, from "Verifying requests from Slack" (docs.slack.dev): a slash-command body.
const DOC = {
  signingSecret: '8f742231b10e8888abcd99yyyzzz85a5',
  timestamp: 1531420618,
  rawBody:
    'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c',
  signature: 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503',
};

const SECRET = 'local-signing-secret';
const NOW = 1_800_000_000;
const BODY = `payload=${encodeURIComponent(JSON.stringify({ type: 'block_actions', actions: [{ action_id: 'approve', value: 'rev-1' }] }))}`;

function signed(body = BODY, timestampSeconds = NOW, signingSecret = SECRET) {
  const headers = signSlackRequest({ rawBody: body, signingSecret, timestampSeconds });
  return { 'X-Slack-Request-Timestamp': headers['x-slack-request-timestamp'], 'X-Slack-Signature': headers['x-slack-signature'] };
}

describe('Slack request signatures (v0)', () => {
  it("reproduces Slack's documented example", () => {
    expect(signSlackRequest({ rawBody: DOC.rawBody, signingSecret: DOC.signingSecret, timestampSeconds: DOC.timestamp })).toEqual({
      'x-slack-request-timestamp': '1531420618',
      'x-slack-signature': DOC.signature,
    });
    const headers = { 'X-Slack-Request-Timestamp': '1531420618', 'X-Slack-Signature': DOC.signature };
    expect(verifySlackSignature({ headers, rawBody: DOC.rawBody, signingSecret: DOC.signingSecret, nowSeconds: DOC.timestamp + 30 })).toEqual({ ok: true });
  });

  it('accepts a request signed with the secret, whatever the case of the header names', () => {
    const headers = signSlackRequest({ rawBody: BODY, signingSecret: SECRET, timestampSeconds: NOW });
    expect(verifySlackSignature({ headers, rawBody: BODY, signingSecret: SECRET, nowSeconds: NOW })).toEqual({ ok: true });
    expect(verifySlackSignature({ headers: signed(), rawBody: BODY, signingSecret: SECRET, nowSeconds: NOW })).toEqual({ ok: true });
    const upper = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toUpperCase(), v]));
    expect(verifySlackSignature({ headers: upper, rawBody: BODY, signingSecret: SECRET, nowSeconds: NOW })).toEqual({ ok: true });
  });

  it('accepts a clock skew of up to five minutes either way', () => {
    expect(verifySlackSignature({ headers: signed(), rawBody: BODY, signingSecret: SECRET, nowSeconds: NOW + 300 })).toEqual({ ok: true });
    expect(verifySlackSignature({ headers: signed(), rawBody: BODY, signingSecret: SECRET, nowSeconds: NOW - 300 })).toEqual({ ok: true });
  });

  it('refuses a signature made with another secret', () => {
    const result = verifySlackSignature({ headers: signed(BODY, NOW, 'someone-elses-secret'), rawBody: BODY, signingSecret: SECRET, nowSeconds: NOW });
    expect(result).toEqual({ ok: false, status: 401, reason: expect.stringMatching(/does not match/) });
  });

  it('refuses a body altered after signing', () => {
    const altered = BODY.replace('approve', 'deny');
    expect(altered).not.toBe(BODY);
    expect(verifySlackSignature({ headers: signed(), rawBody: altered, signingSecret: SECRET, nowSeconds: NOW })).toMatchObject({ ok: false, status: 401 });
    expect(verifySlackSignature({ headers: signed(), rawBody: `${BODY} `, signingSecret: SECRET, nowSeconds: NOW })).toMatchObject({ ok: false, status: 401 });
  });

  it('refuses a stale request (a replay) and one from the future', () => {
    const stale = verifySlackSignature({ headers: signed(), rawBody: BODY, signingSecret: SECRET, nowSeconds: NOW + 301 });
    expect(stale).toEqual({ ok: false, status: 401, reason: expect.stringMatching(/stale/) });
    const future = verifySlackSignature({ headers: signed(), rawBody: BODY, signingSecret: SECRET, nowSeconds: NOW - 301 });
    expect(future).toEqual({ ok: false, status: 401, reason: expect.stringMatching(/future/) });
  });

  it('refuses a correctly signed request replayed with a fresh timestamp', () => {
    const headers = { ...signed(), 'X-Slack-Request-Timestamp': String(NOW + 600) };
    expect(verifySlackSignature({ headers, rawBody: BODY, signingSecret: SECRET, nowSeconds: NOW + 600 })).toMatchObject({ ok: false, status: 401 });
  });

  it('answers 400 naming the missing header', () => {
    const { 'X-Slack-Signature': _signature, ...noSignature } = signed();
    expect(verifySlackSignature({ headers: noSignature, rawBody: BODY, signingSecret: SECRET, nowSeconds: NOW })).toEqual({
      ok: false,
      status: 400,
      reason: expect.stringMatching(/X-Slack-Signature/),
    });
    const { 'X-Slack-Request-Timestamp': _timestamp, ...noTimestamp } = signed();
    expect(verifySlackSignature({ headers: noTimestamp, rawBody: BODY, signingSecret: SECRET, nowSeconds: NOW })).toEqual({
      ok: false,
      status: 400,
      reason: expect.stringMatching(/X-Slack-Request-Timestamp/),
    });
    const none = verifySlackSignature({ headers: { 'content-type': 'application/x-www-form-urlencoded' }, rawBody: BODY, signingSecret: SECRET, nowSeconds: NOW });
    expect(none).toMatchObject({ ok: false, status: 400 });
    expect(none.ok === false && none.reason).toMatch(/X-Slack-Request-Timestamp and X-Slack-Signature/);
  });

  it('answers 400 for a timestamp that is not Unix seconds', () => {
    for (const timestamp of ['soon', '1.8e9', '-1', ' 1800000000']) {
      const headers = { ...signed(), 'X-Slack-Request-Timestamp': timestamp };
      expect(verifySlackSignature({ headers, rawBody: BODY, signingSecret: SECRET, nowSeconds: NOW })).toMatchObject({ ok: false, status: 400 });
    }
  });

  it('refuses malformed signatures without comparing them', () => {
    for (const signature of ['v0=', 'v0=abc', `v1=${'a'.repeat(64)}`, 'a'.repeat(67), `v0=${'z'.repeat(64)}`, `v0=${'a'.repeat(65)}`]) {
      const headers = { ...signed(), 'X-Slack-Signature': signature };
      expect(verifySlackSignature({ headers, rawBody: BODY, signingSecret: SECRET, nowSeconds: NOW })).toMatchObject({ ok: false, status: 401 });
    }
  });

  it('verifies nothing when no signing secret is configured', () => {
    const headers = signed(BODY, NOW, '');
    expect(verifySlackSignature({ headers, rawBody: BODY, signingSecret: '', nowSeconds: NOW })).toMatchObject({ ok: false, status: 401 });
  });
});
