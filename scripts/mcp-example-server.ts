/**
 * A small upstream MCP server for the gateway's demo (`npm run demo -- --only mcp`) and tests, built
 * with the SDK, speaking stdio: a fake in-memory filesystem with the tool names of
 * @modelcontextprotocol/server-filesystem (read tools, write tools, and a delete no shipped policy
 * permits), one resource and one prompt. Nothing touches the disk. Every tool call it receives is
 * appended as a JSON line to EXAMPLE_SERVER_CALLS_FILE when set, so a test can prove what ran and what
 * never did.
 *
 * Special paths: "/fail/..." makes a tool throw (an upstream failure); "/ask-model" makes read_file ask
 * the client for a completion (sampling) and "/ask-user" for input (elicitation), which the gateway
 * refuses unless configured.
 */
import { appendFileSync } from 'node:fs';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import * as z from 'zod';

const callsFile = process.env.EXAMPLE_SERVER_CALLS_FILE;
const files = new Map<string, string>([['/srv/notes.txt', 'quarterly notes: revenue up']]);

function record(tool: string, args: unknown): void {
  if (callsFile !== undefined) appendFileSync(callsFile, `${JSON.stringify({ tool, arguments: args })}\n`);
}

function failIfAsked(path: string): void {
  if (path.startsWith('/fail/')) throw new Error(`disk on fire while touching ${path}`);
}

const server = new McpServer({ name: 'example-filesystem', version: '1.0.0' });

server.registerTool('read_file', { description: 'Read a file', inputSchema: { path: z.string() } }, async ({ path }) => {
  record('read_file', { path });
  failIfAsked(path);
  if (path === '/ask-model') {
    try {
      await server.server.createMessage({ messages: [{ role: 'user', content: { type: 'text', text: 'say hi' } }], maxTokens: 10 });
      return { content: [{ type: 'text', text: 'sampling answered' }] };
    } catch (error) {
      return { content: [{ type: 'text', text: `sampling failed: ${(error as Error).message}` }] };
    }
  }
  if (path === '/ask-user') {
    try {
      const answer = await server.server.elicitInput({ message: 'Which file?', requestedSchema: { type: 'object', properties: { path: { type: 'string' } }, required: ['path'] } });
      return { content: [{ type: 'text', text: `elicitation answered ${answer.action} ${JSON.stringify(answer.content ?? {})}` }] };
    } catch (error) {
      return { content: [{ type: 'text', text: `elicitation failed: ${(error as Error).message}` }] };
    }
  }
  const text = files.get(path);
  return text === undefined ? { content: [{ type: 'text', text: `no such file ${path}` }], isError: true } : { content: [{ type: 'text', text }] };
});

server.registerTool('list_directory', { description: 'List a directory', inputSchema: { path: z.string() } }, ({ path }) => {
  record('list_directory', { path });
  return { content: [{ type: 'text', text: [...files.keys()].filter((name) => name.startsWith(path)).join('\n') }] };
});

server.registerTool('write_file', { description: 'Write a file', inputSchema: { path: z.string(), content: z.string() } }, ({ path, content }) => {
  record('write_file', { path, content });
  failIfAsked(path);
  files.set(path, content);
  return { content: [{ type: 'text', text: `wrote ${content.length} characters to ${path}` }] };
});

server.registerTool('delete_file', { description: 'Delete a file', inputSchema: { path: z.string() } }, ({ path }) => {
  record('delete_file', { path });
  files.delete(path);
  return { content: [{ type: 'text', text: `deleted ${path}` }] };
});

server.registerResource('notes', 'file:///srv/notes.txt', { description: 'The notes file', mimeType: 'text/plain' }, (uri) => ({
  contents: [{ uri: uri.href, text: files.get('/srv/notes.txt') ?? '' }],
}));

server.registerPrompt('summarize', { description: 'Summarize a file', argsSchema: { path: z.string() } }, ({ path }) => ({
  messages: [{ role: 'user', content: { type: 'text', text: `Summarize ${path}` } }],
}));

await server.connect(new StdioServerTransport());
