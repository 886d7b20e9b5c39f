import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../local/log.js';
import { REPO_ROOT, startLocalStack, type LocalStack } from '../local/local-stack.js';

/**
 * The handler modules bind to the first local stack of a process (their SDK clients are built at
 * import), so `npm run bench` starts one stack and every part that needs one borrows it. A bench
 * run on its own starts (and stops) its own.
 */
export interface BenchStack {
  stack: LocalStack;
  release(): Promise<void>;
}

export interface Invocation {
  functionName: string;
  startedAt: number;
  endedAt: number;
}

/** Every handler invocation of the bench stack, as it ended (`performance.now()` times), for the approval timeline. */
export const benchInvocations: Invocation[] = [];

/**
 * The example directory with flood control's limits out of the way: the bench sends hundreds of approval
 * requests from one agent within the hour, which the example's limits (issue 16) would deny, and it
 * measures the request path, not the limits. Written into `dir`; returns its path.
 */
export function benchDirectoryFile(dir: string): string {
  const example = JSON.parse(readFileSync(join(REPO_ROOT, 'config', 'directory.json'), 'utf8')) as Record<string, unknown>;
  const file = join(dir, 'bench-directory.json');
  writeFileSync(file, JSON.stringify({ ...example, floodControl: { ...(example.floodControl as object | undefined), maxOpenReviews: 1000, maxApprovalRequestsPerHour: 100_000 } }));
  return file;
}

export async function startBenchStack(): Promise<BenchStack> {
  const dataDir = mkdtempSync(join(tmpdir(), 'countersign-bench-'));
  const directoryFile = benchDirectoryFile(mkdtempSync(join(tmpdir(), 'countersign-bench-directory-')));
  // No Slack rate limit and no Slack file: the figures are about the product's path, not the emulator's.
  const stack = await startLocalStack({
    port: 0, dataDir, log: silentLogger, slackRateLimit: false, slackPersistence: false, directoryFile,
    onInvocation: (functionName, startedAt, endedAt) => {
      benchInvocations.push({ functionName, startedAt, endedAt });
      if (benchInvocations.length > 100_000) benchInvocations.splice(0, 50_000);
    },
  });
  return {
    stack,
    release: async () => {
      await stack.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function borrowBenchStack(shared: LocalStack | undefined): Promise<BenchStack> {
  if (shared === undefined) return startBenchStack();
  return { stack: shared, release: async () => undefined };
}
