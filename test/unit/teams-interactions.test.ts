import { SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { MemoryDecisionStore } from '../../shared/adapters/memory/memory-adapters.js';
import { MemoryReviewChannel, MemoryReviewStore, MemoryTaskCallbacks } from '../../shared/adapters/memory/memory-review-adapters.js';
import { openReview } from '../../shared/review/open-review.js';
import { answerTeamsRequest, type TeamsHttpRequest, type TeamsInteractionDeps } from '../../shared/review/teams-interaction.js';
import { DENY_REASON_REQUIRED } from '../../shared/teams/card.js';
import { BotFrameworkTokenVerifier } from '../../shared/teams/verify-token.js';
import { BotFrameworkIssuer, issuerFetch } from '../../local/teams/bot-framework-issuer.js';
import { localDirectory, reviewEvent, SECURITY_QUORUM_2, seedPendingRequest, testClock } from '../support/reviews.js';

const APP_ID = '11111111-2222-4333-8444-555555555555';
const TENANT = '99999999-8888-4777-8666-555555555555';
const SERVICE_URL = 'https://smba.trafficmanager.net/teams/';
const CAROL = '00000000-0000-4000-8000-00000000ca01';
const DAN = '00000000-0000-4000-8000-000000000da0';

let issuer: BotFrameworkIssuer;
let rogue: BotFrameworkIssuer;

beforeAll(async () => {
  issuer = await BotFrameworkIssuer.create();
  rogue = await BotFrameworkIssuer.create();
});

async function setup() {
  const decisions = new MemoryDecisionStore();
  const store = new MemoryReviewStore(decisions.records);
  const slack = new MemoryReviewChannel();
  const teams = new MemoryReviewChannel();
  const callbacks = new MemoryTaskCallbacks();
  const published = issuerFetch(() => [issuer]);
  const verifier = new BotFrameworkTokenVerifier({ openIdMetadataUrl: published.metadataUrl, fetch: published.fetch });
  const deps: TeamsInteractionDeps = { store, channel: slack, teams, callbacks, directory: localDirectory, now: testClock().now, verifier, bot: { appId: APP_ID, tenantId: TENANT } };
  // billing-agent (owned by alice) asks security (carol, dan, erin; Slack and Teams), quorum 2.
  const { input } = await seedPendingRequest(decisions, SECURITY_QUORUM_2, { agent: { id: 'billing-agent', onBehalfOf: 'someone-else' } });
  const { reviewId } = await openReview(reviewEvent(input, 'initial'), deps);
  return { store, slack, teams, callbacks, deps, input, reviewId, published };
}

function invoke(reviewId: string, options: { verb?: string; from?: string; reason?: string; tenant?: string; serviceUrl?: string } = {}) {
  return {
    type: 'invoke',
    name: 'adaptiveCard/action',
    id: 'f:invoke-1',
    channelId: 'msteams',
    serviceUrl: options.serviceUrl ?? SERVICE_URL,
    from: { id: '29:carol', aadObjectId: options.from ?? CAROL, name: 'Carol' },
    conversation: { id: '19:approvals-security@thread.tacv2;messageid=1', conversationType: 'channel' },
    channelData: { tenant: { id: options.tenant ?? TENANT } },
    value: { action: { type: 'Action.Execute', verb: options.verb ?? 'approve', data: { reviewId, ...(options.reason === undefined ? {} : { reason: options.reason }) } }, trigger: 'manual' },
  };
}

async function request(activity: unknown, token: string | undefined | Promise<string>): Promise<TeamsHttpRequest> {
  const value = await token;
  return { method: 'POST', headers: value === undefined ? {} : { authorization: `Bearer ${value}` }, body: JSON.stringify(activity), isBase64Encoded: false };
}

const good = (overrides: Partial<Parameters<BotFrameworkIssuer['sign']>[0]> = {}) => issuer.sign({ audience: APP_ID, serviceUrl: SERVICE_URL, ...overrides });

async function votesAndRefusals(store: MemoryReviewStore) {
  return store.events.filter((e) => e.type === 'vote' || e.type === 'vote_refused');
}

describe('teams-interactions: the Bot Framework JWT', () => {
  it('a signed approve from a member of the group counts, updates the Slack message and the Teams card, and answers the refreshed card', async () => {
    const { store, slack, teams, reviewId, deps } = await setup();
    const { response, log } = await answerTeamsRequest(await request(invoke(reviewId), good()), deps);
    expect(response.statusCode).toBe(200);
    const body = JSON.parse(response.body) as { statusCode: number; type: string; value: { type: string; version: string; body: unknown[] } };
    expect(body.statusCode).toBe(200);
    expect(body.type).toBe('application/vnd.microsoft.card.adaptive');
    expect(body.value.type).toBe('AdaptiveCard');
    expect(body.value.version).toBe('1.5');
    expect(JSON.stringify(body.value.body)).toContain('Your approval counted (1 of 2)');
    expect(log).toMatchObject({ status: 'recorded', reviewer: 'carol', vote: 'approve' });
    const votes = await votesAndRefusals(store);
    expect(votes.map((v) => v.type)).toEqual(['vote']);
    expect(votes[0]?.data).toMatchObject({ teamsAadObjectId: CAROL });
    expect(slack.callsOf('updateReview')).toHaveLength(1);
    expect(teams.callsOf('updateReview')).toHaveLength(1);
    expect(teams.callsOf('updateReview')[0]?.view.approvals.map((a) => a.id)).toEqual(['carol']);
  });

  const forgeries: Array<[string, (reviewId: string) => Promise<TeamsHttpRequest>, number, RegExp]> = [
    ['unsigned (no Authorization)', async (id) => request(invoke(id), undefined), 401, /no Bearer token/],
    ['unsigned (alg none)', async (id) => request(invoke(id), `${Buffer.from(JSON.stringify({ alg: 'none', kid: issuer.kid })).toString('base64url')}.${Buffer.from(JSON.stringify({ aud: APP_ID, iss: 'https://api.botframework.com', serviceUrl: SERVICE_URL, exp: 9_999_999_999 })).toString('base64url')}.`), 401, /algorithm/],
    ['signed by another key under the published kid', async (id) => {
      const { privateKey } = await import('jose').then((jose) => jose.generateKeyPair('RS256'));
      const token = await new SignJWT({ serviceUrl: SERVICE_URL }).setProtectedHeader({ alg: 'RS256', kid: issuer.kid }).setIssuer('https://api.botframework.com').setAudience(APP_ID).setIssuedAt().setExpirationTime('1h').sign(privateKey);
      return request(invoke(id), token);
    }, 401, /signature/],
    ['signed by an unpublished key', async (id) => request(invoke(id), rogue.sign({ audience: APP_ID, serviceUrl: SERVICE_URL })), 401, /not in the Bot Framework's published keys/],
    ['expired beyond the 5-minute skew', async (id) => request(invoke(id), good({ issuedAt: Math.floor(Date.now() / 1000) - 3600 - 3600, lifetimeSeconds: 3600 })), 401, /exp/],
    ['for another bot (audience)', async (id) => request(invoke(id), good({ audience: '00000000-1111-4222-8333-444444444444' })), 401, /aud/],
    ['from another issuer', async (id) => request(invoke(id), good({ issuer: 'https://sts.windows.net/evil/' })), 401, /iss/],
    ['with a serviceUrl claim for another service', async (id) => request(invoke(id, { serviceUrl: 'https://evil.example.com/teams/' }), good()), 401, /serviceUrl/],
    ['from another tenant', async (id) => request(invoke(id, { tenant: '12345678-1234-4234-8234-123456789012' }), good()), 403, /tenant/],
  ];

  it.each(forgeries)('%s: refused, and no vote or refusal is recorded', async (_name, build, status, reason) => {
    const { store, slack, teams, reviewId, deps } = await setup();
    const { response, log } = await answerTeamsRequest(await build(reviewId), deps);
    expect(response.statusCode).toBe(status);
    expect(`${String(log.reason ?? '')} ${response.body}`).toMatch(reason);
    expect(await votesAndRefusals(store)).toEqual([]);
    expect(slack.callsOf('updateReview')).toEqual([]);
    expect(teams.callsOf('updateReview')).toEqual([]);
  });

  it('a token within the 5-minute clock skew is accepted', async () => {
    const { reviewId, deps } = await setup();
    const { response } = await answerTeamsRequest(await request(invoke(reviewId), good({ issuedAt: Math.floor(Date.now() / 1000) - 3600 - 120, lifetimeSeconds: 3600 })), deps);
    expect(response.statusCode).toBe(200);
  });

  it.each([['no endorsements', []], ['another channel only', ['webchat']]])('a published key with %s is refused for msteams, and counts nothing', async (_name, endorsements) => {
    const { reviewId, deps, store } = await setup();
    const unendorsed = await BotFrameworkIssuer.create({ endorsements });
    const published = issuerFetch(() => [unendorsed]);
    const verifier = new BotFrameworkTokenVerifier({ openIdMetadataUrl: published.metadataUrl, fetch: published.fetch });
    const { response } = await answerTeamsRequest(await request(invoke(reviewId), unendorsed.sign({ audience: APP_ID, serviceUrl: SERVICE_URL })), { ...deps, verifier });
    expect(response.statusCode).toBe(401);
    expect(await votesAndRefusals(store)).toEqual([]);
  });

  it('an unknown kid refetches the JWKS (a rolled key), at most once a minute', async () => {
    const { reviewId, deps, published } = await setup();
    let now = Date.now();
    const verifier = new BotFrameworkTokenVerifier({ openIdMetadataUrl: published.metadataUrl, fetch: published.fetch, now: () => now });
    const withClock = { ...deps, verifier };
    await answerTeamsRequest(await request(invoke(reviewId), good()), withClock);
    const before = published.calls.length;
    now += 61_000;
    const refused = await answerTeamsRequest(await request(invoke(reviewId), rogue.sign({ audience: APP_ID, serviceUrl: SERVICE_URL })), withClock);
    expect(refused.response.statusCode).toBe(401);
    expect(published.calls.length).toBe(before + 2);
    now += 10_000;
    await answerTeamsRequest(await request(invoke(reviewId), rogue.sign({ audience: APP_ID, serviceUrl: SERVICE_URL })), withClock);
    expect(published.calls.length).toBe(before + 2);
  });
});

describe('teams-interactions: the rules, as in Slack', () => {
  it('a refusal (onBehalfOf is not a voter here: dan twice) comes back on the card for that user, and is recorded', async () => {
    const { store, reviewId, deps } = await setup();
    await answerTeamsRequest(await request(invoke(reviewId, { from: DAN }), good()), deps);
    const { response, log } = await answerTeamsRequest(await request(invoke(reviewId, { from: DAN }), good()), deps);
    expect(log).toMatchObject({ status: 'refused', rule: 'already_voted' });
    expect(JSON.stringify(JSON.parse(response.body))).toContain('already');
    expect((await votesAndRefusals(store)).map((v) => v.type)).toEqual(['vote', 'vote_refused']);
  });

  it('a Teams user not in the directory is refused and recorded', async () => {
    const { store, reviewId, deps } = await setup();
    const { log } = await answerTeamsRequest(await request(invoke(reviewId, { from: 'abababab-abab-4bab-8bab-abababababab' }), good()), deps);
    expect(log).toMatchObject({ status: 'refused', rule: 'unknown_reviewer' });
    expect((await votesAndRefusals(store))[0]?.data).toMatchObject({ teamsAadObjectId: 'abababab-abab-4bab-8bab-abababababab' });
  });

  it.each([
    ['a deny reason over the limit', { verb: 'deny', reason: 'r'.repeat(3001) }, 'action.data.reason: must be at most 3000 characters'],
    ['a quarantine reason over the limit', { verb: 'block_agent', quarantineReason: 'q'.repeat(1001) }, 'action.data.quarantineReason: must be at most 1000 characters'],
    ['a deny reason that is not valid Unicode', { verb: 'deny', reason: 'no \uD800' }, 'action.data.reason: must be valid Unicode: it has a lone surrogate'],
    ['a quarantine reason that is not valid Unicode', { verb: 'block_agent', quarantineReason: '\uDFFF' }, 'action.data.quarantineReason: must be valid Unicode: it has a lone surrogate'],
    ['a review id no card carries', { verb: 'approve', reviewId: 'x'.repeat(256) }, 'action.data.reviewId: must be at most 255 characters'],
    ['a verb the card does not have', { verb: 'approve_all' }, 'action.verb: must be "approve", "deny" or "block_agent"'],
  ])('%s is answered with what was wrong, and counts nothing', async (_name, patch, says) => {
    const { store, reviewId, deps, callbacks } = await setup();
    const activity = invoke(reviewId);
    const { verb, ...data } = patch as { verb: string } & Record<string, unknown>;
    activity.value.action = { ...activity.value.action, verb, data: { reviewId, ...data } };
    const { response, log } = await answerTeamsRequest(await request(activity, good()), deps);
    expect(JSON.parse(response.body)).toEqual({ statusCode: 400, type: 'application/vnd.microsoft.error', value: { code: 'BadRequest', message: expect.stringContaining(says) } });
    expect(log).toMatchObject({ status: 'bad_payload', reason: expect.stringContaining(says) });
    expect(await votesAndRefusals(store)).toEqual([]);
    expect(callbacks.failed).toEqual([]);
  });

  it('a deny without a reason is refused with the card\'s own error; with one it rejects the request', async () => {
    const { reviewId, deps, callbacks } = await setup();
    const empty = await answerTeamsRequest(await request(invoke(reviewId, { verb: 'deny', reason: '  ' }), good()), deps);
    expect(empty.log).toMatchObject({ status: 'refused', rule: 'reason_required' });
    expect(empty.response.body).toContain(DENY_REASON_REQUIRED.slice(0, 30));
    const denied = await answerTeamsRequest(await request(invoke(reviewId, { verb: 'deny', reason: 'not during the freeze' }), good()), deps);
    expect(denied.log).toMatchObject({ status: 'recorded', vote: 'deny', closed: 'rejected' });
    expect(callbacks.failed).toHaveLength(1);
    const card = JSON.parse(denied.response.body) as { value: { actions?: unknown } };
    expect(card.value.actions).toBeUndefined();
  });
});
