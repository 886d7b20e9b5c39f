import { createPrivateKey, createPublicKey, generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { publicKeyFingerprint, SignatureKeyError, type Signer } from '../../ports/signer.js';

export const ED25519_KEY_FILE = 'digest-ed25519.pem';

/**
 * The local stack's digest signer: an Ed25519 key in a PKCS#8 PEM file (mode 0600), generated on
 * first use. `keyId` is `ed25519:<SHA-256 of the public key's SPKI DER>`.
 */
export class Ed25519Signer implements Signer {
  readonly algorithm = 'Ed25519' as const;
  readonly keyId: string;

  private constructor(private readonly privateKey: KeyObject, private readonly publicPem: string) {
    this.keyId = `ed25519:${publicKeyFingerprint(publicPem)}`;
  }

  static fromPrivateKeyPem(pem: string): Ed25519Signer {
    let key: KeyObject;
    try {
      key = createPrivateKey(pem);
    } catch (error) {
      throw new SignatureKeyError(`the digest signing key is not a readable PEM private key: ${(error as Error).message}`);
    }
    if (key.asymmetricKeyType !== 'ed25519') throw new SignatureKeyError(`the digest signing key is ${key.asymmetricKeyType ?? 'unknown'}, not Ed25519`);
    return new Ed25519Signer(key, createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString());
  }

  static generate(): Ed25519Signer {
    const { privateKey } = generateKeyPairSync('ed25519');
    return Ed25519Signer.fromPrivateKeyPem(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
  }

  /** Loads `<keyDir>/digest-ed25519.pem`, creating it (0600, directory 0700) when absent. */
  static async fromKeyDir(keyDir: string): Promise<Ed25519Signer> {
    const file = join(keyDir, ED25519_KEY_FILE);
    try {
      return Ed25519Signer.fromPrivateKeyPem(await readFile(file, 'utf8'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    const { privateKey } = generateKeyPairSync('ed25519');
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    try {
      // 'wx': never overwrite a key another process created a moment ago.
      await writeFile(file, pem, { mode: 0o600, flag: 'wx' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      return Ed25519Signer.fromPrivateKeyPem(await readFile(file, 'utf8'));
    }
    await chmod(file, 0o600);
    return Ed25519Signer.fromPrivateKeyPem(pem);
  }

  async sign(data: Uint8Array): Promise<Uint8Array> {
    return cryptoSign(null, data, this.privateKey);
  }

  async publicKeyPem(): Promise<string> {
    return this.publicPem;
  }
}
