import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localAgentClient } from '../../client/index.js';
import { memoryLogger } from '../../local/log.js';
import { startLocalStack, type LocalStack } from '../../local/local-stack.js';
import { eventually } from '../local/support.js';
import {
  connectHttp,
  connectStdio,
  decisionOf,
  gatewayConfig,
  requestIdIn,
  tapReview,
  textOf,
  upstreamCalls,
  writeConfig,
  type ConnectedGateway,
} from './support.js';

/**
 * countersign-mcp end to end: the SDK's own client drives the gateway (a child process, over stdio and
 * over Streamable HTTP), the gateway runs the fixture upstream (a child process built with the SDK,
 * which records every call it receives), and the local stack decides with the shipped policies
 * (policies/mcp.cedar): filesystem reads are allowed, writes need a data owner, the rest is denied.
 * Reviewers vote in the Slack emulator; alice owns billing-agent, so bob is the one who can approve.
 * Workflow time runs 60 times faster: a 30-minute review expires after 30 s.
 */

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

let dir: string;
let stack: LocalStack;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'countersign-mcp-'));
  stack = await startLocalStack({ port: 0, dataDir: join(dir, 'stack'), log: memoryLogger(), timeScale: 60 });
});

afterAll(async () => {
  await stack?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

async function auditEventTypes(actionId: string): Promise<string[]> {
  const response = await fetch(`${stack.url}/audit/records?agent=billing-agent&limit=1000`);
  const body = await response.json() as { records: { actionId: string | null; eventType: string }[] };
  return body.records.filter((r) => r.actionId === actionId).map((r) => r.eventType).sort();
}

describe('countersign-mcp over stdio, waiting for decisions', () => {
  let gateway: ConnectedGateway;
  const callsFile = () => join(dir, 'stdio-calls.ndjson');

  beforeAll(async () => {
    gateway = await connectStdio(writeConfig(dir, 'stdio.json', gatewayConfig(stack.url, callsFile())));
  });

  afterAll(async () => {
    await gateway?.close();
  });

  it('lists the upstream tools as <server>__<tool> with their schemas, and countersign_await', async () => {
    const { tools } = await gateway.client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(['countersign_await', 'filesystem__delete_file', 'filesystem__list_directory', 'filesystem__read_file', 'filesystem__write_file']);
    const write = tools.find((t) => t.name === 'filesystem__write_file');
    expect(write?.inputSchema.required).toEqual(['path', 'content']);
  });

  it('runs an allowed call and returns the upstream result; the audit log holds the request and the decision', async () => {
    const result = await gateway.client.callTool({ name: 'filesystem__read_file', arguments: { path: '/srv/notes.txt' } });
    expect(result.isError).not.toBe(true);
    expect(textOf(result)).toBe('quarterly notes: revenue up');
    expect(upstreamCalls(callsFile())).toContainEqual({ tool: 'read_file', arguments: { path: '/srv/notes.txt' } });
    const actionId = requestIdIn(/.*filesystem__read_file sent.*/.exec(gateway.stderr())?.[0] ?? '') ?? '';
    expect(actionId).not.toBe('');
    expect((await decisionOf(stack, actionId)).outcome).toBe('allowed');
    expect(await eventually(async () => {
      const types = await auditEventTypes(actionId);
      return types.includes('decided') ? types : undefined;
    }, 'the audit records of the read', 30_000)).toEqual(expect.arrayContaining(['requested', 'decided']));
  });

  it('waits with progress while a data owner reviews, then runs exactly the approved arguments', async () => {
    const progress: string[] = [];
    const args = { path: '/srv/q3.txt', content: 'Q3: revenue up 4%' };
    const call = gateway.client.callTool({ name: 'filesystem__write_file', arguments: args }, undefined, {
      onprogress: (p) => { progress.push(p.message ?? ''); },
      timeout: 20_000,
      resetTimeoutOnProgress: true,
    });
    const actionId = await eventually(() => progress.map(requestIdIn).find((id) => id !== undefined), 'the request id in a progress notification');
    await eventually(() => progress.find((m) => m.includes('needs 1 approval from data-owners')), 'a progress notification naming the approvers');
    expect(upstreamCalls(callsFile()).some((c) => c.tool === 'write_file')).toBe(false);
    await tapReview(stack, actionId, 'U0BOB', 'approve');
    const result = await call;
    expect(result.isError).not.toBe(true);
    expect(textOf(result)).toBe('wrote 17 characters to /srv/q3.txt');
    expect(upstreamCalls(callsFile()).filter((c) => c.tool === 'write_file')).toEqual([{ tool: 'write_file', arguments: args }]);
    const decision = await decisionOf(stack, actionId);
    expect(decision.outcome).toBe('approved');
    expect(decision.reviewers.map((r) => r.id)).toEqual(['bob']);
    // The gateway reported the run: the decision API and the audit log show the execution.
    const execution = await eventually(async () => (await decisionOf(stack, actionId)).execution ?? undefined, 'the execution on the decision', 30_000);
    expect(execution).toMatchObject({ status: 'succeeded', agentId: 'billing-agent', resultSummary: 'wrote 17 characters to /srv/q3.txt' });
    expect(await eventually(async () => {
      const types = await auditEventTypes(actionId);
      return types.includes('executed') ? types : undefined;
    }, 'the execution in the audit log', 30_000)).toEqual(expect.arrayContaining(['requested', 'decided', 'executed']));
  });

  it('refuses a denied call with the reason, and the upstream never sees it', async () => {
    const result = await gateway.client.callTool({ name: 'filesystem__delete_file', arguments: { path: '/srv/notes.txt' } });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/^Countersign denied this call: no policy permits mcp\.call on McpTool in prod\. The tool did not run/);
    expect(upstreamCalls(callsFile()).some((c) => c.tool === 'delete_file')).toBe(false);
  });

  it('refuses a call a reviewer rejects, naming who', async () => {
    const progress: string[] = [];
    const call = gateway.client.callTool({ name: 'filesystem__write_file', arguments: { path: '/srv/payroll.txt', content: 'x' } }, undefined, {
      onprogress: (p) => { progress.push(p.message ?? ''); },
    });
    const actionId = await eventually(() => progress.map(requestIdIn).find((id) => id !== undefined), 'the request id');
    await tapReview(stack, actionId, 'U0BOB', 'deny', 'payroll stays read-only');
    const result = await call;
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/^a reviewer rejected this call: .*denied by bob \("payroll stays read-only"\)/);
    expect(upstreamCalls(callsFile()).some((c) => c.arguments.path === '/srv/payroll.txt')).toBe(false);
  });

  it('returns an upstream failure as an error result after running it', async () => {
    const result = await gateway.client.callTool({ name: 'filesystem__read_file', arguments: { path: '/fail/notes.txt' } });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toContain('disk on fire');
    expect(upstreamCalls(callsFile())).toContainEqual({ tool: 'read_file', arguments: { path: '/fail/notes.txt' } });
    await eventually(() => (gateway.stderr().includes('execution failed') ? true : undefined), 'the failed execution in the gateway\'s log');
  });

  it('checks arguments against the upstream schema before asking anyone', async () => {
    const result = await gateway.client.callTool({ name: 'filesystem__write_file', arguments: { path: '/srv/x.txt' } });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/do not match filesystem__write_file's input schema .*content.*nothing was sent for approval/);
  });

  it('refuses sampling requests from the upstream unless the config allows them', async () => {
    const result = await gateway.client.callTool({ name: 'filesystem__read_file', arguments: { path: '/ask-model' } });
    expect(textOf(result)).toMatch(/sampling failed: .*refused by countersign-mcp \(set "allowSampling": true/);
  });

  it('passes resources and prompts through, read-only', async () => {
    const { resources } = await gateway.client.listResources();
    expect(resources.map((r) => r.uri)).toEqual(['file:///srv/notes.txt']);
    const read = await gateway.client.readResource({ uri: 'file:///srv/notes.txt' });
    expect(read.contents[0]).toMatchObject({ text: 'quarterly notes: revenue up' });
    const { prompts } = await gateway.client.listPrompts();
    expect(prompts.map((p) => p.name)).toEqual(['filesystem__summarize']);
    const prompt = await gateway.client.getPrompt({ name: 'filesystem__summarize', arguments: { path: '/srv/notes.txt' } });
    expect(prompt.messages[0]?.content).toEqual({ type: 'text', text: 'Summarize /srv/notes.txt' });
  });
});

describe('countersign-mcp over Streamable HTTP, deferring calls that need a review', () => {
  let gateway: ConnectedGateway;
  const callsFile = () => join(dir, 'http-calls.ndjson');

  beforeAll(async () => {
    gateway = await connectHttp(writeConfig(dir, 'http.json', gatewayConfig(stack.url, callsFile(), { defaults: { mode: 'defer', progressEverySeconds: 1 } })));
  });

  afterAll(async () => {
    await gateway?.close();
  });

  it('runs an allowed call at once, defer or not', async () => {
    const result = await gateway.client.callTool({ name: 'filesystem__list_directory', arguments: { path: '/srv' } });
    expect(result.isError).not.toBe(true);
    expect(textOf(result)).toContain('/srv/notes.txt');
  });

  it('answers "pending" at once, and countersign_await runs the approved call after a review longer than the client waits', async () => {
    const args = { path: '/srv/deferred.txt', content: 'written after review' };
    const pending = await gateway.client.callTool({ name: 'filesystem__write_file', arguments: args }, undefined, { timeout: 5000 });
    expect(pending.isError).toBe(true);
    expect(textOf(pending)).toMatch(/^Pending approval: this call has not run yet; it needs 1 approval from data-owners/);
    const actionId = requestIdIn(textOf(pending)) ?? '';
    expect(actionId).not.toBe('');

    // The client gives up on a call after 1.5 s; the review takes longer than that.
    await expect(gateway.client.callTool({ name: 'countersign_await', arguments: { requestId: actionId, seconds: 10 } }, undefined, { timeout: 1500 }))
      .rejects.toThrow(/timed out/i);
    // The client's cancellation reaches the gateway asynchronously: until it has, the abandoned wait still
    // holds the request ("another call is already waiting"); then the request is awaitable again, still pending.
    const still = await eventually(async () => {
      const text = textOf(await gateway.client.callTool({ name: 'countersign_await', arguments: { requestId: actionId, seconds: 1 } }));
      if (/another call is already waiting/.test(text)) return undefined;
      return text;
    }, 'the abandoned wait to release the request');
    expect(still).toMatch(/^Pending approval/);

    // The model tries other arguments: they are a new request, and await takes no arguments of its own.
    const changed = await gateway.client.callTool({ name: 'filesystem__write_file', arguments: { ...args, content: 'something else' } }, undefined, { timeout: 5000 });
    expect(textOf(changed)).toMatch(/^Pending approval/);
    expect(requestIdIn(textOf(changed))).not.toBe(actionId);
    const smuggled = await gateway.client.callTool({ name: 'countersign_await', arguments: { requestId: actionId, arguments: { ...args, content: 'something else' } } });
    expect(smuggled.isError).toBe(true);
    expect(textOf(smuggled)).toMatch(/arguments: not accepted \(an approved call runs with the arguments it was approved with/);

    await tapReview(stack, actionId, 'U0BOB', 'approve');
    await eventually(async () => ((await decisionOf(stack, actionId)).outcome === 'approved' ? true : undefined), 'the approval');
    const ran = await gateway.client.callTool({ name: 'countersign_await', arguments: { requestId: actionId, seconds: 10 } });
    expect(ran.isError).not.toBe(true);
    expect(textOf(ran)).toBe('wrote 20 characters to /srv/deferred.txt');
    expect(upstreamCalls(callsFile()).filter((c) => c.tool === 'write_file')).toEqual([{ tool: 'write_file', arguments: args }]);

    const again = await gateway.client.callTool({ name: 'countersign_await', arguments: { requestId: actionId } });
    expect(textOf(again)).toMatch(/has already run .*an approval runs once/);
    expect(upstreamCalls(callsFile()).filter((c) => c.tool === 'write_file')).toHaveLength(1);
  });

  it('awaits only this agent\'s own requests', async () => {
    const other = localAgentClient('ops-agent', stack.url);
    try {
      const { request } = await other.sendAction({ action: 'mcp.call', resource: { type: 'McpTool', id: 'filesystem/write_file' }, environment: 'prod', parameters: { path: '/srv/x', content: 'y' }, justification: 'another agent' });
      const result = await gateway.client.callTool({ name: 'countersign_await', arguments: { requestId: request.actionId } });
      expect(result.isError).toBe(true);
      expect(textOf(result)).toMatch(/is not a request this gateway sent for agent billing-agent/);
    } finally {
      other.destroy();
    }
  });
});
