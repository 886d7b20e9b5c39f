import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/**
 * The local stack's pages are front-end files (`local/pages/<page>/index.html`, `style.css`,
 * `main.ts`), bundled for the browser with esbuild the first time the page is asked for, and
 * served inline under the response's CSP nonce (one script, one style: nothing else may load).
 */
const PAGES_DIR = fileURLToPath(new URL('.', import.meta.url));
const built = new Map<string, Promise<(nonce: string) => string>>();

async function bundle(page: string): Promise<(nonce: string) => string> {
  const dir = `${PAGES_DIR}${page}/`;
  const [html, css, result] = await Promise.all([
    readFile(`${dir}index.html`, 'utf8'),
    readFile(`${dir}style.css`, 'utf8'),
    build({ entryPoints: [`${dir}main.ts`], bundle: true, write: false, format: 'iife', platform: 'browser', target: 'es2022', minify: true, legalComments: 'none', logLevel: 'silent' }),
  ]);
  const script = result.outputFiles[0]?.text ?? '';
  // Inline script text may not close its own element.
  const safeScript = script.replace(/<\/script/gi, '<\\/script');
  return (nonce) => html
    .replace('<!--style-->', () => `<style nonce="${nonce}">${css}</style>`)
    .replace('<!--script-->', () => `<script nonce="${nonce}">${safeScript}</script>`);
}

/** The page's HTML for a nonce; the bundle is built once per process. */
export function pageHtml(page: 'teams' | 'audit'): Promise<(nonce: string) => string> {
  let pending = built.get(page);
  if (pending === undefined) {
    pending = bundle(page);
    built.set(page, pending);
    pending.catch(() => built.delete(page));
  }
  return pending;
}
