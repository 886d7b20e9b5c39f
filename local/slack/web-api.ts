import { randomBytes } from 'node:crypto';
import type { HttpRequest, HttpResponse } from '../aws-json-server.js';
import { SlackApiError, type Args, type SlackWorkspace } from './workspace.js';

/**
 * The Slack Web API over HTTP, at `/api/<method>`, so that `new WebClient(token, { slackApiUrl:
 * 'http://127.0.0.1:4010/api/' })` talks to the emulator unchanged. As Slack does: arguments as
 * `application/x-www-form-urlencoded` (JSON-valued ones as strings), as `application/json` (then
 * the token must be in the Authorization header), or in the query string; the token as
 * `Authorization: Bearer` or a `token` argument; every answer HTTP 200 with `ok`, except a rate
 * limited call: HTTP 429 with `Retry-After` (seconds).
 */

function header(request: HttpRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function respond(statusCode: number, body: Record<string, unknown>, extra: Record<string, string> = {}): HttpResponse {
  return {
    statusCode,
    headers: { 'content-type': 'application/json; charset=utf-8', 'x-slack-req-id': randomBytes(16).toString('hex'), ...extra },
    body: JSON.stringify(body),
  };
}

interface ParsedCall {
  args: Args;
  token: string | undefined;
}

function parseCall(request: HttpRequest): ParsedCall | SlackApiError {
  const args: Args = {};
  for (const [name, value] of new URLSearchParams(request.query)) args[name] = value;
  const contentType = (header(request, 'content-type') ?? '').split(';')[0]?.trim().toLowerCase();
  let bodyToken: string | undefined;
  if (request.body.length > 0) {
    if (contentType === 'application/json') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(request.body.toString('utf8'));
      } catch {
        return new SlackApiError('invalid_json');
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return new SlackApiError('json_not_object');
      Object.assign(args, parsed);
      // Slack ignores a token inside a JSON body: JSON calls must use the Authorization header.
      delete args.token;
    } else if (contentType === 'application/x-www-form-urlencoded' || contentType === '' || contentType === undefined) {
      for (const [name, value] of new URLSearchParams(request.body.toString('utf8'))) args[name] = value;
      if (typeof args.token === 'string') bodyToken = args.token;
    } else {
      return new SlackApiError('invalid_form_data');
    }
  }
  const authorization = header(request, 'authorization');
  const bearer = authorization !== undefined && /^Bearer\s+/i.test(authorization) ? authorization.replace(/^Bearer\s+/i, '').trim() : undefined;
  const queryToken = new URLSearchParams(request.query).get('token') ?? undefined;
  delete args.token;
  return { args, token: bearer ?? bodyToken ?? queryToken };
}

export function handleSlackWebApi(request: HttpRequest, workspace: SlackWorkspace, method: string): HttpResponse {
  if (request.method !== 'POST' && request.method !== 'GET') return respond(405, { ok: false, error: 'method_not_allowed' });
  const parsed = parseCall(request);
  try {
    if (parsed instanceof SlackApiError) throw parsed;
    return respond(200, workspace.call(method, parsed.args, parsed.token));
  } catch (error) {
    if (!(error instanceof SlackApiError)) throw error;
    if (error.code === 'ratelimited') {
      return respond(429, { ok: false, error: 'ratelimited' }, { 'retry-after': String(error.retryAfterSeconds ?? 1) });
    }
    return respond(200, { ok: false, error: error.code, ...error.extra });
  }
}
