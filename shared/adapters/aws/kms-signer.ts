import { createHash } from 'node:crypto';
import { GetPublicKeyCommand, SignCommand, type KMSClient } from '@aws-sdk/client-kms';
import { SignatureKeyError, type Signer } from '../../ports/signer.js';

/** KMS accepts at most 4096 bytes as a RAW message; longer digests are signed by their SHA-256. */
export const KMS_RAW_MESSAGE_LIMIT = 4096;

/**
 * Digest signer on a KMS asymmetric key (`ECC_NIST_P256`, `SIGN_VERIFY`) with `ECDSA_SHA_256`.
 * A RAW message and a DIGEST of the same bytes give signatures that verify alike (SHA-256 then
 * ECDSA), so a verifier needs only the PEM public key.
 */
export class KmsSigner implements Signer {
  readonly algorithm = 'ECDSA_SHA_256' as const;
  private publicPem: Promise<string> | undefined;

  constructor(private readonly client: KMSClient, readonly keyId: string) {}

  async sign(data: Uint8Array): Promise<Uint8Array> {
    const raw = data.byteLength <= KMS_RAW_MESSAGE_LIMIT;
    const response = await this.client.send(new SignCommand({
      KeyId: this.keyId,
      Message: raw ? data : createHash('sha256').update(data).digest(),
      MessageType: raw ? 'RAW' : 'DIGEST',
      SigningAlgorithm: 'ECDSA_SHA_256',
    }));
    if (response.Signature === undefined) throw new SignatureKeyError(`KMS Sign with key ${this.keyId} returned no signature`);
    return response.Signature;
  }

  publicKeyPem(): Promise<string> {
    this.publicPem ??= this.fetchPublicKey().catch((error: unknown) => {
      this.publicPem = undefined;
      throw error;
    });
    return this.publicPem;
  }

  private async fetchPublicKey(): Promise<string> {
    const response = await this.client.send(new GetPublicKeyCommand({ KeyId: this.keyId }));
    if (response.PublicKey === undefined) throw new SignatureKeyError(`KMS GetPublicKey for ${this.keyId} returned no key`);
    if (response.KeySpec !== undefined && response.KeySpec !== 'ECC_NIST_P256') {
      throw new SignatureKeyError(`KMS key ${this.keyId} is ${response.KeySpec}; the digest key must be ECC_NIST_P256`);
    }
    const base64 = Buffer.from(response.PublicKey).toString('base64').replace(/.{1,64}/g, '$&\n');
    return `-----BEGIN PUBLIC KEY-----\n${base64}-----END PUBLIC KEY-----\n`;
  }
}
