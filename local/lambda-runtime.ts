import { randomUUID } from 'node:crypto';
import type { Context, LambdaFunctionURLEvent, LambdaFunctionURLResult } from 'aws-lambda';
import { jsonResponse, type HttpRequest, type HttpResponse } from './aws-json-server.js';
import { LOCAL_REGION } from './dynamodb-local.js';
import { LOCAL_ACCOUNT_ID } from './event-bus.js';

/**
 * What Lambda gives a handler, built for the local stack: a context object, Function URL events
 * (payload format 2.0) and their results mapped back to HTTP, and the error object Lambda reports
 * when a handler throws. Emulation only: the handlers are the real modules.
 */

export function lambdaContext(functionName: string, timeoutMs: number): Context {
  const deadline = Date.now() + timeoutMs;
  const requestId = randomUUID();
  const day = new Date().toISOString().slice(0, 10).replaceAll('-', '/');
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: functionArn(functionName),
    memoryLimitInMB: '1024',
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `${day}/[$LATEST]${requestId.replaceAll('-', '')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

export function functionArn(functionName: string): string {
  return `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:function:${functionName}`;
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(',') : value;
}

/**
 * Function URLs pass a body as text only for `text/*` and `application/json`; every other
 * content type, `application/x-www-form-urlencoded` included (Slack's interaction requests), arrives
 * base64-encoded with `isBase64Encoded: true` (AWS, "Lambda function URLs" request payload).
 */
export function functionUrlPassesAsText(contentType: string | undefined): boolean {
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  return type.startsWith('text/') || type === 'application/json';
}

/** The `requestContext.authorizer` an AWS_IAM Function URL adds for a signed caller. */
export interface IamCaller {
  userArn: string;
  userId: string;
  accessKey?: string;
}

export interface FunctionUrlOptions {
  port: number;
  /** The `<url-id>` of `https://<url-id>.lambda-url.<region>.on.aws`. */
  urlId: string;
  /** Set for a Function URL with AWS_IAM auth: the caller IAM resolved. */
  iam?: IamCaller;
}

/** A Lambda Function URL event (payload format 2.0) for one HTTP request. */
export function functionUrlEvent(request: HttpRequest, options: FunctionUrlOptions): LambdaFunctionURLEvent {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    const text = headerText(value);
    if (text !== undefined) headers[name.toLowerCase()] = text;
  }
  const query: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(request.query)) query[name] = query[name] === undefined ? value : `${query[name]},${value}`;
  const now = new Date();
  const event: LambdaFunctionURLEvent = {
    version: '2.0',
    routeKey: '$default',
    rawPath: request.path,
    rawQueryString: request.query,
    headers,
    requestContext: {
      accountId: options.iam === undefined ? 'anonymous' : LOCAL_ACCOUNT_ID,
      apiId: options.urlId,
      domainName: `127.0.0.1:${options.port}`,
      domainPrefix: options.urlId,
      http: {
        method: request.method,
        path: request.path,
        protocol: 'HTTP/1.1',
        sourceIp: request.remoteAddress,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    isBase64Encoded: false,
  };
  if (options.iam !== undefined) {
    const { userArn, userId, accessKey = 'ASIALOCALCOUNTERSIGN' } = options.iam;
    // The shape Lambda fills in for AWS_IAM auth (the `aws-lambda` types do not declare it).
    (event.requestContext as unknown as Record<string, unknown>).authorizer = {
      iam: { accessKey, accountId: LOCAL_ACCOUNT_ID, callerId: userId, cognitoIdentity: null, principalOrgId: null, userArn, userId },
    };
  }
  if (Object.keys(query).length > 0) event.queryStringParameters = query;
  if (request.body.length > 0) {
    const textual = functionUrlPassesAsText(headers['content-type']);
    event.body = request.body.toString(textual ? 'utf8' : 'base64');
    event.isBase64Encoded = !textual;
  }
  return event;
}

/** Maps a Function URL result to HTTP the way Lambda does (a bare value is a 200 JSON body). */
export function functionUrlResponse(result: LambdaFunctionURLResult | unknown): HttpResponse {
  if (typeof result === 'string') return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: result };
  if (typeof result === 'object' && result !== null && 'statusCode' in result && typeof result.statusCode === 'number') {
    const structured = result as { statusCode: number; headers?: Record<string, unknown>; body?: string; isBase64Encoded?: boolean; cookies?: string[] };
    const headers: Record<string, string | string[]> = { 'content-type': 'application/json' };
    for (const [name, value] of Object.entries(structured.headers ?? {})) headers[name.toLowerCase()] = String(value);
    if (structured.cookies !== undefined && structured.cookies.length > 0) headers['set-cookie'] = structured.cookies;
    const body = structured.body === undefined ? '' : structured.isBase64Encoded === true ? Buffer.from(structured.body, 'base64') : structured.body;
    return { statusCode: structured.statusCode, headers, body };
  }
  return jsonResponse(200, result ?? null);
}

/** What a Function URL answers when the function throws. */
export function functionUrlFailure(): HttpResponse {
  return jsonResponse(502, { message: 'Internal Server Error' });
}

/** The error object the Node.js runtime reports for a handler that threw (`errorType` is the error's name). */
export interface LambdaFunctionError {
  errorType: string;
  errorMessage: string;
  trace: string[];
}

export function lambdaFunctionError(error: unknown): LambdaFunctionError {
  if (error instanceof Error) {
    return { errorType: error.name || 'Error', errorMessage: error.message, trace: (error.stack ?? '').split('\n') };
  }
  return { errorType: 'Error', errorMessage: String(error), trace: [] };
}
