import { createHash, createPublicKey, verify as cryptoVerify } from 'node:crypto';

/** How a digest is signed: KMS `ECDSA_SHA_256` (P-256) in AWS, Ed25519 locally. */
export type SigningAlgorithm = 'ECDSA_SHA_256' | 'Ed25519';

/** Signs audit digests. The key never leaves the signer; the public key is published as PEM. */
export interface Signer {
  /** The key's id: a KMS key id/ARN, or `ed25519:<fingerprint>` for a local key. */
  readonly keyId: string;
  readonly algorithm: SigningAlgorithm;
  /** Signature over `data` (DER for ECDSA, 64 raw bytes for Ed25519). */
  sign(data: Uint8Array): Promise<Uint8Array>;
  /** SPKI public key, PEM. */
  publicKeyPem(): Promise<string>;
}

export class SignatureKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SignatureKeyError';
  }
}

/** SHA-256 (hex) of the SPKI DER of a public key: names the key in digests, whatever its algorithm. */
export function publicKeyFingerprint(publicKeyPem: string): string {
  let der: Buffer;
  try {
    der = createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' });
  } catch (error) {
    throw new SignatureKeyError(`not a usable public key (PEM, SPKI): ${(error as Error).message}`);
  }
  return createHash('sha256').update(der).digest('hex');
}

/** The algorithm a PEM public key signs with, or an error naming what it is. */
export function algorithmOfPublicKey(publicKeyPem: string): SigningAlgorithm {
  let key;
  try {
    key = createPublicKey(publicKeyPem);
  } catch (error) {
    throw new SignatureKeyError(`not a usable public key (PEM, SPKI): ${(error as Error).message}`);
  }
  if (key.asymmetricKeyType === 'ed25519') return 'Ed25519';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ECDSA_SHA_256';
  throw new SignatureKeyError(`public key is ${key.asymmetricKeyType ?? 'unknown'}${key.asymmetricKeyDetails?.namedCurve ? ` (${key.asymmetricKeyDetails.namedCurve})` : ''}; digests are signed with Ed25519 or ECDSA P-256`);
}

/** Checks signatures made by either signer, from the PEM public key alone. */
export class PemSignatureVerifier {
  readonly algorithm: SigningAlgorithm;
  readonly fingerprint: string;
  private readonly key;

  constructor(publicKeyPem: string) {
    this.algorithm = algorithmOfPublicKey(publicKeyPem);
    this.fingerprint = publicKeyFingerprint(publicKeyPem);
    this.key = createPublicKey(publicKeyPem);
  }

  verify(data: Uint8Array, signature: Uint8Array, algorithm: SigningAlgorithm = this.algorithm): boolean {
    if (algorithm !== this.algorithm) return false;
    try {
      return this.algorithm === 'Ed25519' ? cryptoVerify(null, data, this.key, signature) : cryptoVerify('sha256', data, this.key, signature);
    } catch {
      // A malformed signature (wrong length, bad DER) is simply not a valid signature.
      return false;
    }
  }
}
