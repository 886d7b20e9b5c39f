import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import type { CountersignGateway } from './gateway.js';

export const MCP_PATH = '/mcp';

export interface HttpGateway {
  /** Where MCP clients connect, e.g. http://127.0.0.1:4020/mcp */
  url: string;
  close(): Promise<void>;
}

function answer(response: ServerResponse, status: number, message: string): void {
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message }, id: null }));
}

async function readJson(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > 4 * 1024 * 1024) throw new Error('the request body is larger than 4 MiB');
    chunks.push(chunk as Buffer);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
}

/**
 * Serves the gateway over Streamable HTTP at `http://<host>:<port>/mcp`, one MCP session (and one
 * server) per client that initializes. It listens on the loopback interface only by default, and
 * answers only requests whose Host header names it (a web page cannot reach it by DNS rebinding).
 */
export async function serveStreamableHttp(gateway: CountersignGateway, options: { host?: string; port?: number; log?: (line: string) => void } = {}): Promise<HttpGateway> {
  const host = options.host ?? '127.0.0.1';
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  let allowedHosts: Set<string> = new Set();

  const http = createServer((request, response) => {
    void (async () => {
      const url = new URL(request.url ?? '/', 'http://gateway');
      if (url.pathname !== MCP_PATH) return answer(response, 404, `countersign-mcp serves MCP at ${MCP_PATH}`);
      if (!allowedHosts.has(request.headers.host ?? '')) return answer(response, 403, `Host ${request.headers.host ?? '(none)'} is not this gateway`);
      const sessionId = request.headers['mcp-session-id'];
      const existing = typeof sessionId === 'string' ? sessions.get(sessionId) : undefined;
      if (existing !== undefined) return await existing.handleRequest(request, response);
      if (typeof sessionId === 'string') return answer(response, 404, `no session ${sessionId}: initialize again`);
      if (request.method !== 'POST') return answer(response, 400, 'initialize first (POST without an Mcp-Session-Id)');
      let body: unknown;
      try {
        body = await readJson(request);
      } catch (error) {
        return answer(response, 400, `the body is not JSON: ${(error as Error).message}`);
      }
      if (!isInitializeRequest(body)) return answer(response, 400, 'no session: the first request must be initialize');
      const transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => {
          sessions.set(id, transport);
        },
      });
      transport.onclose = () => {
        if (transport.sessionId !== undefined) sessions.delete(transport.sessionId);
      };
      await gateway.createServer().connect(transport);
      await transport.handleRequest(request, response, body);
    })().catch((error: unknown) => {
      options.log?.(`HTTP ${request.method ?? ''} ${request.url ?? ''} failed: ${(error as Error).message}`);
      if (!response.headersSent) answer(response, 500, 'internal error');
    });
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = http.address() as AddressInfo;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  allowedHosts = new Set([`${shownHost}:${port}`, `localhost:${port}`]);
  return {
    url: `http://${shownHost}:${port}${MCP_PATH}`,
    async close() {
      await Promise.allSettled([...sessions.values()].map((transport) => transport.close()));
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
