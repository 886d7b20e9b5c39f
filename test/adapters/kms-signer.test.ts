import { createHash, generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import { GetPublicKeyCommand, KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { KMS_RAW_MESSAGE_LIMIT, KmsSigner } from '../../shared/adapters/aws/kms-signer.js';
import { PemSignatureVerifier } from '../../shared/ports/signer.js';

const kms = mockClient(KMSClient);
const KEY = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
// Stands in for the KMS key: a P-256 key pair that signs what the mocked Sign receives.
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const digestedBytes = new Map<string, Uint8Array>();

beforeEach(() => {
  kms.reset();
  kms.on(SignCommand).callsFake((input: { Message: Uint8Array; MessageType: string }) => {
    // DIGEST: KMS signs the given SHA-256 as is, which equals ECDSA_SHA_256 over the original bytes.
    // node:crypto cannot sign a pre-hashed value, so the fake signs the bytes whose hash it was given.
    const original = input.MessageType === 'RAW' ? input.Message : digestedBytes.get(Buffer.from(input.Message).toString('hex'));
    if (original === undefined) throw new Error('DIGEST of unknown bytes');
    const signature = cryptoSign('sha256', original, privateKey);
    return { Signature: new Uint8Array(signature), KeyId: KEY, SigningAlgorithm: 'ECDSA_SHA_256' };
  });
  kms.on(GetPublicKeyCommand).resolves({ KeyId: KEY, KeySpec: 'ECC_NIST_P256', PublicKey: new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })) });
});

describe('KmsSigner', () => {
  it('signs a digest with ECDSA_SHA_256 over the RAW message, verifiable from the PEM public key', async () => {
    const signer = new KmsSigner(new KMSClient({}), KEY);
    const data = Buffer.from('{"format":"countersign-audit-digest/1"}');
    const signature = await signer.sign(data);
    expect(kms).toHaveReceivedCommandWith(SignCommand, { KeyId: KEY, MessageType: 'RAW', SigningAlgorithm: 'ECDSA_SHA_256' });
    const verifier = new PemSignatureVerifier(await signer.publicKeyPem());
    expect(verifier.algorithm).toBe('ECDSA_SHA_256');
    expect(verifier.verify(data, signature)).toBe(true);
    expect(verifier.verify(Buffer.from('{"format":"forged"}'), signature)).toBe(false);
  });

  it('signs a digest over 4096 bytes by its SHA-256 (KMS refuses longer RAW messages); it verifies the same way', async () => {
    const signer = new KmsSigner(new KMSClient({}), KEY);
    const data = Buffer.alloc(KMS_RAW_MESSAGE_LIMIT + 1, 'x');
    digestedBytes.set(createHash('sha256').update(data).digest('hex'), data);
    const signature = await signer.sign(data);
    expect(kms).toHaveReceivedCommandWith(SignCommand, { MessageType: 'DIGEST', Message: new Uint8Array(createHash('sha256').update(data).digest()) });
    expect(new PemSignatureVerifier(await signer.publicKeyPem()).verify(data, signature)).toBe(true);
  });

  it('fetches the public key once and exports it as PEM', async () => {
    const signer = new KmsSigner(new KMSClient({}), KEY);
    const pem = await signer.publicKeyPem();
    await signer.publicKeyPem();
    expect(pem).toMatch(/^-----BEGIN PUBLIC KEY-----\n[A-Za-z0-9+/=\n]+-----END PUBLIC KEY-----\n$/);
    expect(pem).toBe(publicKey.export({ type: 'spki', format: 'pem' }).toString());
    expect(kms).toHaveReceivedCommandTimes(GetPublicKeyCommand, 1);
  });

  it('refuses a key that is not ECC_NIST_P256', async () => {
    kms.on(GetPublicKeyCommand).resolves({ KeyId: KEY, KeySpec: 'RSA_2048', PublicKey: new Uint8Array([1]) });
    await expect(new KmsSigner(new KMSClient({}), KEY).publicKeyPem()).rejects.toThrow(/is RSA_2048; the digest key must be ECC_NIST_P256/);
  });
});
