/** Opens an audit log for `verify` and `query`: the local bucket directory, or an S3 bucket. */
import { stat } from 'node:fs/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import { S3AuditSink } from '../adapters/aws/s3-audit-sink.js';
import { LocalAuditSink } from '../adapters/local/local-audit-sink.js';
import { AuditVerifyInputError } from './verify.js';

/** The local stack's audit bucket, relative to the repository root (the local stack uses the same). */
export const DEFAULT_LOCAL_AUDIT_DIR = '.countersign/audit-bucket';
/** The local digest key's folder in the data folder, beside (never inside) the log's folder: the trust anchor. */
export const LOCAL_KEYS_DIR = 'keys';
/** The local stream poller's on-failure destination in the data folder (one failure document a line). */
export const AUDIT_FAILURES_FILE = 'audit-failures.jsonl';

/** The local log; a one-line error when the directory is not there. */
export async function openLocalAuditLog(dir: string): Promise<LocalAuditSink> {
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(dir)).isDirectory();
  } catch (error) {
    throw new AuditVerifyInputError(`no audit log at ${dir} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); start the local stack, or pass --dir or --bucket`, 'missing-log');
  }
  if (!isDirectory) throw new AuditVerifyInputError(`${dir} is not a directory; point --dir at the audit bucket directory`, 'missing-log');
  return new LocalAuditSink(dir);
}

export function openS3AuditLog(client: S3Client, bucket: string): S3AuditSink {
  return new S3AuditSink(client, bucket);
}
