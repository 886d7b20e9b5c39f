/**
 * The audit page (`GET /audit`), beside the Slack page: front-end files in `local/pages/audit/`
 * (index.html, style.css, main.ts: what it shows and how), bundled by `local/pages/bundle.ts` and served
 * under a per-response CSP nonce, so no other script can run on the page.
 */
import { pageHtml } from './pages/bundle.js';

export { AUDIT_PAGE_REFRESH_MS } from './pages/audit/refresh.js';

/** The page's HTML for a response's nonce (the bundle is built once per process). */
export async function auditPageHtml(options: { nonce: string }): Promise<string> {
  return (await pageHtml('audit'))(options.nonce);
}
