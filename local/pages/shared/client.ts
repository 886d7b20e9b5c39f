/**
 * What every local page shares: a DOM helper that only ever sets text (agent text reaches these
 * pages: never innerHTML), JSON calls to the page's own origin, and polling that pauses while a call
 * is in flight.
 */
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
