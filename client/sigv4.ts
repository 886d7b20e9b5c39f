import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';

export type Credentials = AwsCredentialIdentity | AwsCredentialIdentityProvider;

/** Adds whatever headers a request to the decision API needs (nothing, locally; SigV4 in AWS). */
export interface RequestSigner {
  headersFor(method: 'GET' | 'POST', url: URL, headers: Record<string, string>): Promise<Record<string, string>>;
}

export const unsignedRequests: RequestSigner = {
  headersFor: async (_method, _url, headers) => headers,
};

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

/** The local stack (and a test server) take unsigned requests; a Function URL with `AWS_IAM` auth needs SigV4. */
export function isLocalUrl(url: URL): boolean {
  return LOCAL_HOSTS.has(url.hostname);
}

/** `https://<id>.lambda-url.<region>.on.aws/` names its region; other hosts do not. */
export function regionOfFunctionUrl(url: URL): string | undefined {
  return /^[a-z0-9]+\.lambda-url\.([a-z0-9-]+)\.on\.aws$/.exec(url.hostname)?.[1];
}

/**
 * What a caller of an `AWS_IAM` Function URL needs on the function: since October 2025 Lambda checks both
 * actions for new Function URLs (Lambda developer guide, "Control access to Lambda function URLs").
 */
export const FUNCTION_URL_PERMISSIONS = 'lambda:InvokeFunctionUrl and lambda:InvokeFunction (with the condition lambda:InvokedViaFunctionUrl = true)';

/**
 * Signs requests to a Lambda Function URL whose auth type is `AWS_IAM`: SigV4, service `lambda`.
 * The caller needs `lambda:InvokeFunctionUrl` and `lambda:InvokeFunction` on the function (see
 * FUNCTION_URL_PERMISSIONS); the second may be limited to Function URL calls with the
 * `lambda:InvokedViaFunctionUrl` condition, which is how the stack's own grants write it.
 */
export function sigV4Signer(options: { credentials: Credentials; region: string | (() => Promise<string>); service?: string }): RequestSigner {
  let signer: Promise<SignatureV4> | undefined;
  const signerFor = async () => {
    const region = typeof options.region === 'string' ? options.region : await options.region();
    return new SignatureV4({ credentials: options.credentials, region, service: options.service ?? 'lambda', sha256: Sha256 });
  };
  return {
    headersFor: async (method, url, headers) => {
      signer ??= signerFor().catch((error: unknown) => { signer = undefined; throw error; });
      const query: Record<string, string> = {};
      url.searchParams.forEach((value, key) => { query[key] = value; });
      const signed = await (await signer).sign({
        method,
        protocol: url.protocol,
        hostname: url.hostname,
        port: url.port === '' ? undefined : Number(url.port),
        path: url.pathname,
        query,
        headers: { ...headers, host: url.host },
      });
      // fetch sets Host itself, to the same value that was signed.
      const { host: _host, ...rest } = signed.headers;
      return rest;
    },
  };
}
