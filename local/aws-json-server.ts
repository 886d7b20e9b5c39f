import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';

/**
 * The local stack's one HTTP port, and the AWS JSON protocol (1.0 and 1.1) that the AWS SDK speaks
 * to EventBridge and Step Functions: `POST /` with `X-Amz-Target: <Service>.<Operation>` and a
 * JSON body; errors as HTTP 4xx/5xx with `{"__type": ..., "message": ...}` and the
 * `x-amzn-ErrorType` header, which is what the SDK reads to build its typed exceptions.
 * SigV4 signatures are accepted without checking: there is no IAM here.
 */

export interface HttpRequest {
  method: string;
  /** The path as received, still percent-encoded. */
  path: string;
  /** The query string as received, without `?`. */
  query: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  remoteAddress: string;
}

export interface HttpResponse {
  statusCode: number;
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
}

export type HttpHandler = (request: HttpRequest) => Promise<HttpResponse>;

/** An error the way an AWS service reports it; `type` becomes `__type` and the SDK's exception name. */
export class AwsServiceError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly statusCode = 400,
  ) {
    super(message);
    this.name = 'AwsServiceError';
  }
}

export class PortInUseError extends Error {
  constructor(readonly host: string, readonly port: number) {
    super(`port ${port} on ${host} is already in use (is another local stack running?); stop it, or choose another port with --port N or PORT=N`);
    this.name = 'PortInUseError';
  }
}

export interface AwsRequestContext {
  requestId: string;
}

/** One operation; the input is the parsed JSON body. Throw `AwsServiceError` for a modelled error. */
export type AwsOperation = (input: Record<string, unknown>, context: AwsRequestContext) => unknown;
/** Operations by full target, e.g. `AWSEvents.PutEvents`. */
export type AwsOperations = Readonly<Record<string, AwsOperation>>;

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function jsonProtocolVersion(contentType: string | undefined): '1.0' | '1.1' {
  return contentType?.includes('x-amz-json-1.0') ? '1.0' : '1.1';
}

function awsJsonResponse(version: string, requestId: string, statusCode: number, body: unknown, extra: Record<string, string> = {}): HttpResponse {
  return {
    statusCode,
    headers: {
      'content-type': `application/x-amz-json-${version}`,
      'x-amzn-requestid': requestId,
      ...extra,
    },
    body: JSON.stringify(body),
  };
}

export function awsErrorResponse(error: AwsServiceError, version: '1.0' | '1.1' = '1.1', requestId: string = randomUUID()): HttpResponse {
  return awsJsonResponse(version, requestId, error.statusCode, { __type: error.type, message: error.message }, {
    'x-amzn-errortype': error.type,
  });
}

/**
 * Answers one AWS JSON request (`POST /`). Unknown targets get `UnknownOperationException`, a body
 * that is not a JSON object gets `SerializationException`; an unexpected throw is a 500
 * `InternalFailure`, which the SDK retries, like a real service fault.
 */
export async function handleAwsJsonRequest(request: HttpRequest, operations: AwsOperations, onInternalError?: (error: unknown, target: string) => void): Promise<HttpResponse> {
  const requestId = randomUUID();
  const version = jsonProtocolVersion(header(request.headers, 'content-type'));
  const fail = (type: string, message: string, statusCode = 400) => awsErrorResponse(new AwsServiceError(type, message, statusCode), version, requestId);
  const target = header(request.headers, 'x-amz-target');
  if (target === undefined || target === '') {
    return fail('UnknownOperationException', 'Missing X-Amz-Target header: this endpoint speaks the AWS JSON protocol (use the AWS SDK with `endpoint` set to this URL)');
  }
  const operation = Object.hasOwn(operations, target) ? operations[target] : undefined;
  if (operation === undefined) {
    return fail('UnknownOperationException', `Operation ${target} is not supported by the local stack (supported: ${Object.keys(operations).join(', ')})`);
  }
  let input: unknown;
  try {
    input = request.body.length === 0 ? {} : JSON.parse(request.body.toString('utf8'));
  } catch (error) {
    return fail('SerializationException', `The request body is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return fail('SerializationException', 'The request body must be a JSON object');
  }
  try {
    const output = await operation(input as Record<string, unknown>, { requestId });
    return awsJsonResponse(version, requestId, 200, output ?? {});
  } catch (error) {
    if (error instanceof AwsServiceError) return awsErrorResponse(error, version, requestId);
    onInternalError?.(error, target);
    return fail('InternalFailure', `The local ${target} failed unexpectedly: ${(error as Error).message ?? String(error)}`, 500);
  }
}

export function jsonResponse(statusCode: number, body: unknown, headers: Record<string, string> = {}): HttpResponse {
  return { statusCode, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}

export interface LocalHttpServer {
  host: string;
  port: number;
  url: string;
  close(): Promise<void>;
}

export interface HttpServerOptions {
  /** 0 picks any free port. */
  port: number;
  host?: string;
  handler: HttpHandler;
  /** Larger bodies are refused with 413 before they are read whole. @default 8 MiB */
  maxBodyBytes?: number;
  onError?: (error: unknown) => void;
}

function readBody(request: IncomingMessage, limit: number): Promise<Buffer | 'too-large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) tooLarge = true;
      if (!tooLarge) chunks.push(chunk);
    });
    request.on('end', () => resolve(tooLarge ? 'too-large' : Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

function send(response: ServerResponse, result: HttpResponse): void {
  const body = result.body ?? '';
  const headers: Record<string, string | string[] | number> = { ...result.headers };
  headers['content-length'] = Buffer.byteLength(body);
  response.writeHead(result.statusCode, headers);
  response.end(body);
}

/** Starts the HTTP server on 127.0.0.1 (never on all interfaces: the local stack has no auth). */
export async function startHttpServer(options: HttpServerOptions): Promise<LocalHttpServer> {
  const host = options.host ?? '127.0.0.1';
  const maxBodyBytes = options.maxBodyBytes ?? 8 * 1024 * 1024;
  const server = createServer((request, response) => {
    void (async () => {
      try {
        const body = await readBody(request, maxBodyBytes);
        if (body === 'too-large') {
          send(response, jsonResponse(413, { __type: 'RequestEntityTooLargeException', message: `Request bodies are limited to ${maxBodyBytes} bytes` }));
          return;
        }
        const url = request.url ?? '/';
        const queryAt = url.indexOf('?');
        const result = await options.handler({
          method: request.method ?? 'GET',
          path: queryAt === -1 ? url : url.slice(0, queryAt),
          query: queryAt === -1 ? '' : url.slice(queryAt + 1),
          headers: request.headers,
          body,
          remoteAddress: request.socket.remoteAddress ?? '127.0.0.1',
        });
        send(response, result);
      } catch (error) {
        options.onError?.(error);
        if (!response.headersSent) send(response, jsonResponse(500, { message: 'Internal Server Error' }));
        else response.destroy();
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      reject(error.code === 'EADDRINUSE' ? new PortInUseError(host, options.port) : error);
    };
    server.once('error', onError);
    server.listen(options.port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (error) => options.onError?.(error));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  return {
    host,
    port,
    url: `http://${host}:${port}`,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      // Keep-alive sockets (the AWS SDK pools them) would otherwise hold `close` open.
      server.closeAllConnections();
    }),
  };
}
