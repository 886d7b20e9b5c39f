import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { CreateMessageRequestSchema, ElicitRequestSchema, ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ApprovalDecision, FinalDecision } from '../../client/index.js';
import { REPO_ROOT } from '../../local/local-stack.js';
import { parseGatewayConfig } from '../../mcp/config.js';
import { reportableText, summarizeToolResult, type ExecutionReport } from '../../mcp/execution-report.js';
import { CountersignGateway, type GatewayAgent } from '../../mcp/gateway.js';
import { connectUpstream, type Upstream } from '../../mcp/upstreams.js';
import { payloadSha256, SPEC_VERSION, validateActionExecuted, type ActionRequest } from '../../shared/domain/contract.js';
import { EXAMPLE_SERVER_ARGS, textOf, upstreamCalls } from './support.js';

/**
 * The gateway's own guards, with a scripted Countersign (an agent client whose decisions the test
 * writes) in front of the real example server: what runs is what was approved, within its validity,
 * and every execution report it makes is one the `Action Executed` contract accepts.
 */

const dir = mkdtempSync(join(tmpdir(), 'countersign-mcp-guards-'));
const callsFile = join(dir, 'calls.ndjson');
const config = parseGatewayConfig({
  agentId: 'billing-agent',
  countersign: { local: 'http://127.0.0.1:1' },
  upstreams: { filesystem: { command: process.execPath, args: EXAMPLE_SERVER_ARGS, cwd: REPO_ROOT, environment: 'prod', env: { EXAMPLE_SERVER_CALLS_FILE: callsFile } } },
}, 'gateway.json');

let upstream: Upstream;
let decide: (request: ActionRequest, hash: string) => FinalDecision;
const reports: ExecutionReport[] = [];
/** While set, decisions wait for it (a review still open). */
let gate: Promise<void> | undefined;
const sent: ActionRequest[] = [];

function approval(request: ActionRequest, changes: Partial<ApprovalDecision> = {}): ApprovalDecision {
  return {
    actionId: request.actionId, requestEventId: 'e-1', outcome: 'approved', reason: 'approved by bob', policyIds: ['p'],
    reviewers: [{ id: 'bob', vote: 'approve', at: new Date().toISOString() }], decidedAt: new Date().toISOString(),
    validUntil: new Date(Date.now() + 60_000).toISOString(), execution: null, payloadSha256: payloadSha256(request), ...changes,
  };
}

const agent: GatewayAgent = {
  sendAction: (spec) => {
    const request = { ...structuredClone(spec), specVersion: SPEC_VERSION, actionId: `billing-agent-${sent.length}`, agent: { id: 'billing-agent' } } as ActionRequest;
    sent.push(request);
    return Promise.resolve({ request, payloadSha256: payloadSha256(request) });
  },
  waitForDecision: async (actionId) => {
    const request = sent.find((r) => r.actionId === actionId);
    if (request === undefined) throw new Error(`unknown ${actionId}`);
    await gate;
    return decide(request, payloadSha256(request));
  },
  destroy: () => undefined,
};

let client: Client;

beforeAll(async () => {
  upstream = await connectUpstream('filesystem', config.upstreams.filesystem!, { log: () => undefined, downstream: () => undefined });
  const gateway = new CountersignGateway({ config, agent, upstreams: new Map([['filesystem', upstream]]), reporter: { report: (r) => { reports.push(r); return Promise.resolve(); } } });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await gateway.createServer().connect(serverSide);
  client = new Client({ name: 'guards-test', version: '1.0.0' });
  await client.connect(clientSide);
});

afterEach(() => {
  reports.length = 0;
});

afterAll(async () => {
  await client?.close();
  await upstream?.close();
  rmSync(dir, { recursive: true, force: true });
});

const writes = () => upstreamCalls(callsFile).filter((c) => c.tool === 'write_file');

describe('the gateway runs only what was approved', () => {
  it('refuses a decision for another payload than it sent: nothing runs', async () => {
    decide = (request) => approval(request, { payloadSha256: 'a'.repeat(64) });
    const result = await client.callTool({ name: 'filesystem__write_file', arguments: { path: '/srv/a.txt', content: 'a' } });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/^the arguments that would run hash to [0-9a-f]{64}, not to the approved payload a{64}; nothing ran/);
    expect(writes()).toEqual([]);
    expect(reports).toEqual([]);
  });

  it('refuses an approval past its validUntil: nothing runs', async () => {
    decide = (request) => approval(request, { validUntil: new Date(Date.now() - 1000).toISOString() });
    const result = await client.callTool({ name: 'filesystem__write_file', arguments: { path: '/srv/b.txt', content: 'b' } });
    expect(textOf(result)).toMatch(/was approved, but only until .*; it has not run/);
    expect(writes()).toEqual([]);
  });

  it('runs an approval once, and reports it as the Action Executed contract wants', async () => {
    decide = (request) => approval(request);
    const result = await client.callTool({ name: 'filesystem__write_file', arguments: { path: '/srv/c.txt', content: 'see' } });
    expect(textOf(result)).toBe('wrote 3 characters to /srv/c.txt');
    expect(writes()).toEqual([{ tool: 'write_file', arguments: { path: '/srv/c.txt', content: 'see' } }]);
    expect(reports).toHaveLength(1);
    const [report] = reports;
    expect(report).toMatchObject({ actionId: sent.at(-1)?.actionId, status: 'succeeded', payloadSha256: payloadSha256(sent.at(-1)!), result: { summary: 'wrote 3 characters to /srv/c.txt' } });
    expect(validateActionExecuted({ specVersion: SPEC_VERSION, ...report })).toMatchObject({ ok: true });
  });

  it('runs an approval once even when countersign_await is called for it while the call waits', async () => {
    decide = (request) => approval(request);
    let open: () => void = () => undefined;
    gate = new Promise((resolve) => { open = resolve; });
    const before = writes().length;
    const call = client.callTool({ name: 'filesystem__write_file', arguments: { path: '/srv/race.txt', content: 'once' } }, undefined, { onprogress: () => undefined });
    const requestId = `billing-agent-${sent.length}`;
    await new Promise((resolve) => setTimeout(resolve, 100));
    const awaits = await Promise.all([1, 2].map(() => client.callTool({ name: 'countersign_await', arguments: { requestId, seconds: 5 } }, undefined, { onprogress: () => undefined })));
    for (const result of awaits) expect(textOf(result)).toMatch(/another call is already waiting for request|has already run/);
    open();
    gate = undefined;
    expect(textOf(await call)).toBe('wrote 4 characters to /srv/race.txt');
    expect(writes().length - before).toBe(1);
    expect(reports).toHaveLength(1);
  });

  it('reports a result whose cut would split an emoji: the summary stops before the pair, and the report is one the contract accepts', async () => {
    decide = (request) => approval(request);
    // "wrote 1 characters to " is 22 characters and "/srv/" 5 more: the emoji's first half is the 997th character,
    // the last one a 1,000-character summary (997 and "...") would keep.
    const path = `/srv/${'a'.repeat(969)}\u{1F600}${'z'.repeat(10)}`;
    const result = await client.callTool({ name: 'filesystem__write_file', arguments: { path, content: 'x' } });
    expect(textOf(result)).toBe(`wrote 1 characters to ${path}`);
    expect(reports).toHaveLength(1);
    const summary = reports[0]?.result?.summary ?? '';
    expect(summary).toBe(`wrote 1 characters to /srv/${'a'.repeat(969)}...`);
    expect(validateActionExecuted({ specVersion: SPEC_VERSION, ...reports[0] })).toMatchObject({ ok: true });
  });

  it('writes a lone surrogate in an upstream\'s text as an escape, so the report is not refused', () => {
    expect(reportableText('half \ud83d of a pair', 1000)).toBe('half \\uD83D of a pair');
    expect(reportableText(`${'b'.repeat(6)}\u{1F600}ccc`, 10)).toBe('bbbbbb...');
    expect(summarizeToolResult({ content: [{ type: 'text', text: 'x\udc00' }] })).toBe('x\\uDC00');
  });

  it('reports an upstream failure as a failed execution the contract accepts', async () => {
    decide = (request) => approval(request);
    const result = await client.callTool({ name: 'filesystem__write_file', arguments: { path: '/fail/d.txt', content: 'd' } });
    expect(result.isError).toBe(true);
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ status: 'failed', error: { code: 'tool_error', message: expect.stringContaining('disk on fire') } });
    expect(validateActionExecuted({ specVersion: SPEC_VERSION, ...reports[0] })).toMatchObject({ ok: true });
  });

  it('tells the model why a denial happened and never calls the upstream', async () => {
    decide = (request) => ({ ...approval(request), outcome: 'denied', reason: 'no policy permits mcp.call on McpTool in prod', reviewers: [], validUntil: null });
    const result = await client.callTool({ name: 'filesystem__delete_file', arguments: { path: '/srv/notes.txt' } });
    expect(textOf(result)).toMatch(/^Countersign denied this call: no policy permits mcp\.call on McpTool in prod\. The tool did not run \(request billing-agent-\d+\)\. Do not retry the same call unchanged/);
    expect(upstreamCalls(callsFile).some((c) => c.tool === 'delete_file')).toBe(false);
  });
});

describe('sampling and elicitation from an upstream', () => {
  it('are refused when the upstream\'s config does not allow them: the gateway does not declare the capability', async () => {
    decide = (request) => ({ ...approval(request), outcome: 'allowed', reviewers: [] });
    const result = await client.callTool({ name: 'filesystem__read_file', arguments: { path: '/ask-user' } });
    // The upstream's SDK checks the capability before it asks (a server that asks anyway gets the gateway's refusal, as sampling shows).
    expect(textOf(result)).toMatch(/^elicitation failed: Client does not support (form )?elicitation/);
  });

  it('go to the agent\'s host when the upstream\'s config allows them', async () => {
    const allowed = parseGatewayConfig({ ...config, upstreams: { filesystem: { ...config.upstreams.filesystem, allowSampling: true, allowElicitation: true } } }, 'gateway.json');
    const sampling = await connectUpstream('filesystem', allowed.upstreams.filesystem!, { log: () => undefined, downstream: () => gateway.downstream() });
    const gateway = new CountersignGateway({ config: allowed, agent, upstreams: new Map([['filesystem', sampling]]), reporter: { report: () => Promise.resolve() } });
    const host = new Client({ name: 'sampling-host', version: '1.0.0' }, { capabilities: { sampling: {}, elicitation: {} } });
    host.setRequestHandler(ElicitRequestSchema, () => ({ action: 'accept', content: { path: '/srv/notes.txt' } }));
    const asked: string[] = [];
    host.setRequestHandler(CreateMessageRequestSchema, (request) => {
      asked.push(JSON.stringify(request.params.messages));
      return { role: 'assistant', model: 'test-model', content: { type: 'text', text: 'hi' } };
    });
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await gateway.createServer().connect(serverSide);
    await host.connect(clientSide);
    try {
      decide = (request) => ({ ...approval(request), outcome: 'allowed', reviewers: [] });
      const result = await host.callTool({ name: 'filesystem__read_file', arguments: { path: '/ask-model' } });
      expect(textOf(result)).toBe('sampling answered');
      expect(asked).toEqual([JSON.stringify([{ role: 'user', content: { type: 'text', text: 'say hi' } }])]);
      const elicited = await host.callTool({ name: 'filesystem__read_file', arguments: { path: '/ask-user' } });
      expect(textOf(elicited)).toBe('elicitation answered accept {"path":"/srv/notes.txt"}');
    } finally {
      await host.close();
      await sampling.close();
    }
  });
});

/** An agent-side host connected to a gateway of its own. */
async function hostOf(gateway: CountersignGateway, name: string): Promise<Client> {
  const host = new Client({ name, version: '1.0.0' });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await gateway.createServer().connect(serverSide);
  await host.connect(clientSide);
  return host;
}

describe('reportResults: "digest"', () => {
  it('reports what a result holds and its SHA-256, never its text, nor a failing tool\'s message; the agent still gets the result', async () => {
    const digest = parseGatewayConfig({ ...config, upstreams: { filesystem: { ...config.upstreams.filesystem, reportResults: 'digest' } } }, 'gateway.json');
    const quiet = await connectUpstream('filesystem', digest.upstreams.filesystem!, { log: () => undefined, downstream: () => undefined });
    const own: ExecutionReport[] = [];
    const gateway = new CountersignGateway({ config: digest, agent, upstreams: new Map([['filesystem', quiet]]), reporter: { report: (r) => { own.push(r); return Promise.resolve(); } } });
    const host = await hostOf(gateway, 'digest-test');
    try {
      decide = (request) => approval(request);
      const secret = 'password=hunter2';
      const wrote = await host.callTool({ name: 'filesystem__write_file', arguments: { path: `/srv/${secret}.txt`, content: 'x' } });
      expect(textOf(wrote)).toBe(`wrote 1 characters to /srv/${secret}.txt`);
      const failed = await host.callTool({ name: 'filesystem__write_file', arguments: { path: `/fail/${secret}`, content: 'x' } });
      expect(failed.isError).toBe(true);
      expect(own).toHaveLength(2);
      // Kinds and a size range; no hash, which a short result could be guessed back from.
      expect(own[0]).toMatchObject({ status: 'succeeded', result: { summary: '1 text; under 100 characters; content not reported (reportResults: digest)' } });
      expect(own[0]!.result).not.toHaveProperty('sha256');
      expect(own[1]).toMatchObject({ status: 'failed', error: { code: 'tool_error' } });
      expect(JSON.stringify(own)).not.toContain('hunter2');
      for (const report of own) expect(validateActionExecuted({ specVersion: SPEC_VERSION, ...report })).toMatchObject({ ok: true });
    } finally {
      await host.close();
      await quiet.close();
    }
  });

  it('withholds the message of an upstream that throws, too', async () => {
    const digest = parseGatewayConfig({ ...config, upstreams: { filesystem: { ...config.upstreams.filesystem, reportResults: 'digest' } } }, 'gateway.json');
    const real = await connectUpstream('filesystem', digest.upstreams.filesystem!, { log: () => undefined, downstream: () => undefined });
    // The same upstream, but its calls fail at the protocol level with a message that quotes what it read.
    const client = new Proxy(real.client, {
      get: (target, property) => (property === 'callTool' ? () => Promise.reject(new McpError(ErrorCode.InternalError, 'read failed near password=hunter2')) : Reflect.get(target, property, target)),
    });
    const own: ExecutionReport[] = [];
    const gateway = new CountersignGateway({ config: digest, agent, upstreams: new Map([['filesystem', { ...real, client }]]), reporter: { report: (r) => { own.push(r); return Promise.resolve(); } } });
    const host = await hostOf(gateway, 'digest-throw-test');
    try {
      decide = (request) => approval(request);
      const result = await host.callTool({ name: 'filesystem__write_file', arguments: { path: '/srv/t.txt', content: 'x' } });
      expect(result.isError).toBe(true);
      expect(own).toEqual([expect.objectContaining({ status: 'failed', error: { code: 'mcp_-32603', message: 'the upstream failed (mcp_-32603); its message is not reported (reportResults: digest)' } })]);
      expect(validateActionExecuted({ specVersion: SPEC_VERSION, ...own[0] })).toMatchObject({ ok: true });
    } finally {
      await host.close();
      await real.close();
    }
  });

  it('is refused in the config unless it is "text" or "digest", saying where', () => {
    expect(() => parseGatewayConfig({ ...config, upstreams: { filesystem: { ...config.upstreams.filesystem, reportResults: 'none' } } }, 'gateway.json')).toThrow(/upstreams\.filesystem\.reportResults: must be "text"/);
  });
});
