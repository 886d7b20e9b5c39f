/**
 * What every local page shares: a DOM helper that only ever sets text (agent text reaches these
 * pages: never innerHTML), the labels of characters that would hide or reorder text, JSON calls to the
 * page's own origin, and polling that pauses while a call is in flight.
 */
import { labelHidden, TAB_AND_NEWLINE } from '../../../shared/domain/code-point-label.js';

/** Text others wrote (agents, reviewers) as a page shows it: each such character as `[U+202E]`. */
export function visible(text: string): string {
  return labelHidden(text, TAB_AND_NEWLINE);
}

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, className = '', text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className !== '') node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export async function getJson<T>(path: string): Promise<T> {
  const response = await fetch(path, { cache: 'no-store' });
  if (!response.ok) throw new Error(`GET ${path}: HTTP ${response.status}`);
  return (await response.json()) as T;
}

export async function postJson<T>(path: string, body: unknown): Promise<T> {
  const response = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!response.ok) throw new Error(`POST ${path}: HTTP ${response.status}`);
  return (await response.json()) as T;
}

/** Calls `tick` every `ms`, never twice at once; `now()` runs it at once. */
export function poll(tick: () => Promise<void>, ms: number): { now: () => Promise<void> } {
  let running: Promise<void> | undefined;
  const run = async () => {
    if (running !== undefined) return running;
    running = tick().catch((error: unknown) => console.warn(error)).finally(() => { running = undefined; });
    return running;
  };
  setInterval(() => { void run(); }, ms);
  return { now: run };
}
