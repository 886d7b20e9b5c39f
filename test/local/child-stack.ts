import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { REPO_ROOT } from '../../local/local-stack.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

/**
 * `npm start` as a user runs it, in its own process group (as a terminal runs a foreground job), so
 * that a test can send a signal to the whole group as Ctrl-C does, or SIGKILL it as a crash would.
 */
export interface ChildStack {
  url: string;
  pid: number;
  output(): string;
  /** Resolves with the exit code (or signal) once npm is gone. */
  exited: Promise<number | string | null>;
  /** Signals the whole process group. */
  signal(signal: NodeJS.Signals): void;
}

export async function startChildStack(dataDir: string, options: { fresh?: boolean; timeoutMs?: number } = {}): Promise<ChildStack> {
  const args = ['start', '--', ...(options.fresh === true ? ['--fresh'] : []), '--data-dir', dataDir];
  const child: ChildProcess = spawn('npm', args, {
    cwd: REPO_ROOT,
    env: { ...process.env, CI: 'true', PORT: '0' },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => { output += chunk; });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => { output += chunk; });
  const exited = new Promise<number | string | null>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
  const pid = child.pid;
  if (pid === undefined) throw new Error('npm start did not spawn');
  const stack: ChildStack = {
    url: '',
    pid,
    output: () => output,
    exited,
    signal: (signal) => {
      try {
        process.kill(-pid, signal);
      } catch {
        // the group is gone
      }
    },
  };
  const deadline = Date.now() + (options.timeoutMs ?? 150_000);
  for (;;) {
    const match = /bus endpoint\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(output);
    if (match?.[1] !== undefined && output.includes('Ctrl-C to stop')) return { ...stack, url: match[1] };
    if (child.exitCode !== null || Date.now() > deadline) {
      stack.signal('SIGKILL');
      throw new Error(`npm start did not come up (exit ${child.exitCode}); it printed:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** An auto-decided request (policy db-query allows it): its decision needs no reviewer. */
export function queryRequest(actionId: string) {
  return {
    EventBusName: 'countersign',
    Source: 'agent.billing-agent',
    DetailType: 'Action Requested',
    Detail: JSON.stringify({
      specVersion: '1', actionId, agent: { id: 'billing-agent' }, action: 'db.query',
      resource: { type: 'Database', id: 'customers' }, environment: 'prod',
      parameters: { sql: `SELECT count(*) FROM customers -- ${actionId}` }, justification: 'crash and stop tests',
    }),
  };
}

/**
 * Sends requests with the real EventBridge SDK from `workers` concurrent senders, 1 to 3 entries
 * per call, until `total` entries were sent or `stop()` says so. Returns the actionIds the bus
 * accepted (an EventId in the answer); calls that failed (the stack gone or stopping) accepted nothing.
 */
export async function burst(url: string, options: { prefix: string; total: number; workers?: number; stop?: () => boolean; stopOnFailure?: boolean; onAccepted?: (count: number) => void }): Promise<{ accepted: string[]; sent: string[]; failedCalls: number }> {
  const client = new EventBridgeClient({ endpoint: url, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' }, maxAttempts: 2 });
  const accepted: string[] = [];
  const sent: string[] = [];
  let next = 0;
  let failedCalls = 0;
  const worker = async (): Promise<void> => {
    while (next < options.total && options.stop?.() !== true) {
      const size = 1 + (next % 3);
      const ids = Array.from({ length: Math.min(size, options.total - next) }, () => `${options.prefix}-${String(next++).padStart(4, '0')}`);
      sent.push(...ids);
      try {
        const answer = await client.send(new PutEventsCommand({ Entries: ids.map(queryRequest) }));
        answer.Entries?.forEach((entry, index) => {
          const id = ids[index];
          if (entry.EventId !== undefined && id !== undefined) accepted.push(id);
        });
        options.onAccepted?.(accepted.length);
      } catch {
        failedCalls += 1;
        if (options.stopOnFailure === true) return;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: options.workers ?? 6 }, worker));
  } finally {
    client.destroy();
  }
  return { accepted, sent, failedCalls };
}

/**
 * A burst at a child stack that sends it `signal` (to its whole group) once `after` entries were
 * accepted, while the burst goes on; the senders stop at the signal, or at their first failure.
 */
export async function burstInterrupted(stack: ChildStack, signal: NodeJS.Signals, options: { prefix: string; total: number; after: number; stopAtSignal: boolean }): Promise<{ accepted: string[]; signalled: boolean }> {
  let signalled = false;
  const result = await burst(stack.url, {
    prefix: options.prefix,
    total: options.total,
    stopOnFailure: true,
    stop: () => options.stopAtSignal && signalled,
    onAccepted: (count) => {
      if (count >= options.after && !signalled) {
        signalled = true;
        stack.signal(signal);
      }
    },
  });
  return { accepted: result.accepted, signalled };
}

/** `npm run audit -- …` on a data folder's log. */
export function audit(dataDir: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync('npm', ['run', '--silent', 'audit', '--', ...args, '--dir', `${dataDir}/audit-bucket`], { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, CI: 'true' }, timeout: 120_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** How many `decided` records the audit log holds per actionId with this prefix. */
export function decidedCounts(dataDir: string, prefix: string): Map<string, number> {
  const result = audit(dataDir, ['query', `SELECT action_id, count(*) AS n FROM audit_events WHERE event_type = 'decided' AND action_id LIKE '${prefix}-%' GROUP BY 1`, '--json']);
  if (result.status !== 0) throw new Error(`the audit query failed: ${result.stdout}${result.stderr}`);
  const rows = JSON.parse(result.stdout) as Array<{ action_id: string; n: number | string }>;
  return new Map(rows.map((row) => [row.action_id, Number(row.n)]));
}

/** The processes whose command line names the folder (the stack's node, its DynamoDB Local, its watchdog). */
export function processesOf(dataDir: string): string {
  if (dataDir === '') return '';
  return spawnSync('pgrep', ['-af', dataDir], { encoding: 'utf8' }).stdout.split('\n').filter((line) => line !== '' && !line.includes('pgrep')).join('\n');
}
