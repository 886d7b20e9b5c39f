import { randomBytes } from 'node:crypto';
import type { HttpResponse } from './aws-json-server.js';

/**
 * A page of the local stack (`/slack`, `/audit`): one inline script and one style element, allowed
 * by a nonce made for this response; nothing else may load or run, and the page talks only to its
 * own origin. Agent text reaches these pages, so this is the second wall behind `textContent`.
 */
export function htmlPageResponse(render: (nonce: string) => string): HttpResponse {
  const nonce = randomBytes(16).toString('base64');
  return {
    statusCode: 200,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'x-frame-options': 'DENY',
      'content-security-policy': `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
    },
    body: render(nonce),
  };
}
