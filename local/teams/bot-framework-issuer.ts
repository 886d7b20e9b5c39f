import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { BOT_FRAMEWORK_ISSUER } from '../../shared/teams/verify-token.js';

/**
 * The local stand-in for the Bot Framework's token service: an RSA key the local stack generates at
 * start, published as OpenID metadata and a JWKS (with `endorsements`, as the Bot Framework's keys
 * carry), and the tokens the emulated channel signs with it for the bot's messaging endpoint. The
 * handler verifies them with its real code, pointed here by `COUNTERSIGN_TEAMS_OPENID_METADATA_URL`.
 */
export interface IssuedTokenOptions {
  audience: string;
  serviceUrl: string;
  /** Seconds since the epoch. @default now */
  issuedAt?: number;
  /** Lifetime in seconds. @default 3600 */
  lifetimeSeconds?: number;
  /** @default BOT_FRAMEWORK_ISSUER */
  issuer?: string;
}

export class BotFrameworkIssuer {
  private constructor(
    private readonly privateKey: CryptoKey,
    readonly kid: string,
    private readonly publicJwk: JWK,
    private readonly endorsements: string[],
  ) {}

  static async create(options: { endorsements?: string[] } = {}): Promise<BotFrameworkIssuer> {
    const { privateKey, publicKey } = await generateKeyPair('RS256', { modulusLength: 2048 });
    const kid = `local-${randomUUID()}`;
    return new BotFrameworkIssuer(privateKey, kid, await exportJWK(publicKey), options.endorsements ?? ['msteams']);
  }

  /** The OpenID metadata document, naming the JWKS at `jwksUri`. */
  metadata(jwksUri: string): Record<string, unknown> {
    return {
      issuer: BOT_FRAMEWORK_ISSUER,
      authorization_endpoint: 'https://invalid.botframework.com',
      jwks_uri: jwksUri,
      id_token_signing_alg_values_supported: ['RS256'],
      token_endpoint_auth_methods_supported: ['private_key_jwt'],
    };
  }

  jwks(): { keys: JWK[] } {
    return { keys: [{ ...this.publicJwk, kid: this.kid, use: 'sig', alg: 'RS256', endorsements: this.endorsements } as JWK] };
  }

  /** A token as the Bot Framework Service sends to a bot: `iss`, `aud` = app id, `serviceUrl`, short-lived. */
  async sign(options: IssuedTokenOptions): Promise<string> {
    const iat = options.issuedAt ?? Math.floor(Date.now() / 1000);
    return new SignJWT({ serviceUrl: options.serviceUrl })
      .setProtectedHeader({ alg: 'RS256', kid: this.kid, typ: 'JWT' })
      .setIssuer(options.issuer ?? BOT_FRAMEWORK_ISSUER)
      .setAudience(options.audience)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(iat + (options.lifetimeSeconds ?? 3600))
      .sign(this.privateKey);
  }
}

/** A fetch that answers the issuer's metadata and JWKS at fixed URLs (tests: no network). */
export function issuerFetch(issuers: () => BotFrameworkIssuer[], base = 'https://bf.test'): { fetch: typeof fetch; metadataUrl: string; calls: string[] } {
  const calls: string[] = [];
  const fetchFn = (async (input: string | URL | Request) => {
    const url = String(input instanceof Request ? input.url : input);
    calls.push(url);
    if (url === `${base}/metadata`) return Response.json(issuers()[0]?.metadata(`${base}/keys`));
    if (url === `${base}/keys`) return Response.json({ keys: issuers().flatMap((issuer) => issuer.jwks().keys) });
    return new Response('not found', { status: 404 });
  }) as typeof fetch;
  return { fetch: fetchFn, metadataUrl: `${base}/metadata`, calls };
}
