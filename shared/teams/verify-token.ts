import { decodeProtectedHeader, errors, importJWK, jwtVerify, type JWK, type JWTPayload } from 'jose';

/**
 * Verifies the Bot Framework's JWT on a request from Teams (the "connector to bot" direction), the
 * checks botframework-connector makes (ChannelValidation, JwtTokenExtractor), with `jose`:
 * - `Authorization: Bearer <JWT>`, signed with RS256 (RS384/RS512 allowed, as the SDK does) by a key
 *   of the OpenID metadata's JWKS, found by `kid`; the JWKS is cached and read again on an unknown
 *   `kid` (Microsoft rolls keys) at most once per `minRefreshMs`, and at least daily;
 * - the key's `endorsements`, when it has any, include the activity's `channelId` (`msteams`);
 * - `iss` is `https://api.botframework.com`; `aud` is the bot's app id; `exp`/`nbf` hold with a
 *   5-minute clock tolerance (the SDK's `clockTolerance: 5 * 60`);
 * - the `serviceUrl` claim equals the activity's `serviceUrl` (`verifyServiceUrl`, after the body is parsed).
 * The local stack runs this same code against its emulator's metadata (`openIdMetadataUrl`): never switched off.
 */

export const BOT_FRAMEWORK_ISSUER = 'https://api.botframework.com';
export const BOT_FRAMEWORK_OPENID_METADATA_URL = 'https://login.botframework.com/v1/.well-known/openidconfiguration';
export const ALLOWED_ALGORITHMS = ['RS256', 'RS384', 'RS512'];
export const CLOCK_TOLERANCE_SECONDS = 5 * 60;
const JWKS_MAX_AGE_MS = 24 * 60 * 60 * 1000;

export interface BotTokenVerifierOptions {
  /** @default BOT_FRAMEWORK_OPENID_METADATA_URL */
  openIdMetadataUrl?: string;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Milliseconds clock. @default Date.now */
  now?: () => number;
  /** Unknown-`kid` refetches at most this often, so forged tokens cannot drive metadata calls. @default 60000 */
  minRefreshMs?: number;
}

export type TokenCheck =
  | { ok: true; claims: JWTPayload & { serviceUrl?: unknown } }
  | { ok: false; status: 401; reason: string };

interface EndorsedJwk extends JWK {
  endorsements?: string[];
}

function refuse(reason: string): TokenCheck {
  return { ok: false, status: 401, reason };
}

export class BotFrameworkTokenVerifier {
  private keys: { fetchedAt: number; byKid: Map<string, EndorsedJwk> } | undefined;
  private lastRefreshAt = Number.NEGATIVE_INFINITY;
  private readonly fetch: typeof fetch;
  private readonly now: () => number;
  private readonly metadataUrl: string;
  private readonly minRefreshMs: number;

  constructor(options: BotTokenVerifierOptions = {}) {
    this.fetch = options.fetch ?? globalThis.fetch;
    this.now = options.now ?? Date.now;
    this.metadataUrl = options.openIdMetadataUrl ?? BOT_FRAMEWORK_OPENID_METADATA_URL;
    this.minRefreshMs = options.minRefreshMs ?? 60_000;
  }

  /** Checks the Authorization header for the bot `appId`, the token signed by a key endorsed for `channelId`. */
  async verify(authorization: string | undefined, appId: string, channelId: string): Promise<TokenCheck> {
    const match = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/.exec(authorization?.trim() ?? '');
    if (match === null) return refuse('no Bearer token in the Authorization header');
    const token = match[1] ?? '';
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      return refuse('the token header is not a JWS header');
    }
    if (typeof header.alg !== 'string' || !ALLOWED_ALGORITHMS.includes(header.alg)) return refuse(`the token's algorithm "${String(header.alg)}" is not one of ${ALLOWED_ALGORITHMS.join(', ')}`);
    if (typeof header.kid !== 'string' || header.kid === '') return refuse('the token names no signing key (kid)');
    const jwk = await this.keyFor(header.kid);
    if (jwk === undefined) return refuse(`the signing key "${header.kid}" is not in the Bot Framework's published keys`);
    // As botframework-connector's EndorsementsValidator: a key that endorses no channel endorses none.
    if (!Array.isArray(jwk.endorsements) || !jwk.endorsements.includes(channelId)) {
      return refuse(`the signing key is not endorsed for channel "${channelId}"`);
    }
    try {
      const key = await importJWK({ ...jwk, alg: header.alg }, header.alg);
      const { payload } = await jwtVerify(token, key, {
        algorithms: ALLOWED_ALGORITHMS,
        issuer: BOT_FRAMEWORK_ISSUER,
        audience: appId,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        currentDate: new Date(this.now()),
        requiredClaims: ['exp'],
      });
      return { ok: true, claims: payload };
    } catch (error) {
      if (error instanceof errors.JOSEError) return refuse(`the token is not valid: ${error.code}: ${error.message}`);
      throw error;
    }
  }

  /** The token's `serviceUrl` claim must be the activity's: a token for one service cannot drive another. */
  static verifyServiceUrl(check: Extract<TokenCheck, { ok: true }>, activityServiceUrl: string): TokenCheck {
    const claimed = check.claims.serviceUrl;
    if (typeof claimed !== 'string') return refuse('the token has no serviceUrl claim');
    if (claimed !== activityServiceUrl) return refuse(`the token's serviceUrl claim does not match the activity's serviceUrl`);
    return check;
  }

  private async keyFor(kid: string): Promise<EndorsedJwk | undefined> {
    const now = this.now();
    if (this.keys === undefined || now - this.keys.fetchedAt > JWKS_MAX_AGE_MS) await this.refresh();
    let key = this.keys?.byKid.get(kid);
    if (key === undefined && now - this.lastRefreshAt >= this.minRefreshMs) {
      await this.refresh();
      key = this.keys?.byKid.get(kid);
    }
    return key;
  }

  private async refresh(): Promise<void> {
    this.lastRefreshAt = this.now();
    const metadata = await this.getJson(this.metadataUrl) as { jwks_uri?: unknown };
    if (typeof metadata.jwks_uri !== 'string') throw new Error(`the OpenID metadata at ${this.metadataUrl} has no jwks_uri`);
    const jwks = await this.getJson(metadata.jwks_uri) as { keys?: unknown };
    if (!Array.isArray(jwks.keys)) throw new Error(`the JWKS at ${metadata.jwks_uri} has no keys`);
    const byKid = new Map<string, EndorsedJwk>();
    for (const key of jwks.keys as EndorsedJwk[]) if (typeof key.kid === 'string' && key.kty === 'RSA') byKid.set(key.kid, key);
    this.keys = { fetchedAt: this.now(), byKid };
  }

  private async getJson(url: string): Promise<unknown> {
    const response = await this.fetch(url, { signal: AbortSignal.timeout(3_000) });
    if (!response.ok) throw new Error(`GET ${url} answered HTTP ${response.status}`);
    return response.json();
  }
}
