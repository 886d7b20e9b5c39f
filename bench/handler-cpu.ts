/**
 * evaluate-action's own CPU per invocation: the real handler module in a process of its own, sending
 * its calls to a running local stack (DynamoDB Local, the local bus), one invocation at a time. In the
 * local stack the handlers share one process with the emulators that serve their calls, so the process's
 * CPU during an invocation is an upper bound of the handler's; in a process of its own the CPU is the
 * handler's alone (its SDK calls, Cedar, logging and metrics), as a Lambda execution environment would
 * spend it. The cost model stretches that CPU to the deployed memory's vCPU share (cost-model.ts).
 *
 *   parent: measureEvaluateActionCpu(invocations) with a local stack started in this process
 *   child:  node --import tsx bench/handler-cpu.ts --child <invocations> <warm-up>
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Context } from 'aws-lambda';
import { benchRequestDetail } from './bench-request.js';

export interface HandlerCpu {
  invocations: number;
  /** CPU milliseconds of the handler's process per invocation (user + system). */
  cpuMsPerInvocation: number;
  /** Wall milliseconds per invocation, in that process. */
  wallMsPerInvocation: number;
}

/**
 * Runs the child against the local stack whose handler environment this process holds (a local stack
 * started here sets it: endpoints, table, bus, directory), and returns what it measured.
 */
export function measureEvaluateActionCpu(invocations = 200, warmUp = 20): Promise<HandlerCpu> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', String(invocations), String(warmUp)], {
      cwd: fileURLToPath(new URL('..', import.meta.url)), env: process.env, stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { output += chunk; });
    child.on('error', reject);
    child.on('close', (code) => {
      const line = output.trim().split('\n').at(-1) ?? '';
      if (code !== 0) return reject(new Error(`the evaluate-action CPU child exited ${String(code)}: ${line}`));
      try {
        resolve(JSON.parse(line) as HandlerCpu);
      } catch {
        reject(new Error(`the evaluate-action CPU child printed no result: ${line}`));
      }
    });
  });
}

async function child(invocations: number, warmUp: number): Promise<HandlerCpu> {
  const { handler } = await import('../functions/evaluate-action/handler.js');
  const { lambdaContext } = await import('../local/lambda-runtime.js');
  const run = `${Date.now().toString(36)}-${process.pid}`;
  const invoke = async (i: number) => {
    const event = {
      version: '0', id: randomUUID(), 'detail-type': 'Action Requested', source: 'agent.billing-agent', account: '000000000000',
      time: new Date().toISOString(), region: 'us-east-1', resources: [],
      detail: benchRequestDetail(`cpu-${run}-${i}`, i),
    };
    const result = await handler(event as never, lambdaContext('countersign-evaluate-action', 30_000) as Context) as { status?: string; outcome?: string };
    if (result.status !== 'created' || result.outcome !== 'allowed') throw new Error(`invocation ${i} was not a new allowed decision: ${JSON.stringify(result)}`);
  };
  for (let i = 0; i < warmUp; i++) await invoke(-1 - i);
  let cpuMs = 0;
  let wallMs = 0;
  for (let i = 0; i < invocations; i++) {
    const cpu = process.cpuUsage();
    const started = performance.now();
    await invoke(i);
    wallMs += performance.now() - started;
    const used = process.cpuUsage(cpu);
    cpuMs += (used.user + used.system) / 1000;
  }
  return { invocations, cpuMsPerInvocation: cpuMs / invocations, wallMsPerInvocation: wallMs / invocations };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href && process.argv[2] === '--child') {
  const invocations = Number(process.argv[3]);
  const warmUp = Number(process.argv[4]);
  if (!(Number.isSafeInteger(invocations) && invocations > 0 && Number.isSafeInteger(warmUp) && warmUp >= 0)) {
    console.error('usage: handler-cpu.ts --child <invocations> <warm-up>');
    process.exit(2);
  }
  console.log(JSON.stringify(await child(invocations, warmUp)));
  process.exit(0);
}
