import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

/**
 * Helpers of the browser tests: Debian's Chromium driven by playwright-core (no browser download),
 * screenshots kept under test-results/ (and under docs/ on request), and child processes whose
 * output a test waits on.
 */

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const HAS_CHROMIUM = existsSync(CHROMIUM_PATH);
export const IN_CI = process.env.CI === 'true';
export const MISSING_CHROMIUM = `no Chromium at ${CHROMIUM_PATH}: install it with "sudo apt-get install chromium" (Debian) or set CHROMIUM_PATH to a Chromium or Chrome executable`;

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
}

export const VIEWPORT = { width: 1280, height: 800 } as const;

/**
 * Saves a PNG of the page as the user sees it into test-results/screenshots/ (git-ignored) and, with
 * UPDATE_SCREENSHOTS=1, into docs/screenshots/ as well, where the README shows it.
 */
export async function saveScreenshot(page: Page, name: string): Promise<void> {
  const folders = [join(REPO_ROOT, 'test-results', 'screenshots')];
  if (process.env.UPDATE_SCREENSHOTS === '1') folders.push(join(REPO_ROOT, 'docs', 'screenshots'));
  const png = await page.screenshot({ type: 'png', animations: 'disabled' });
  for (const folder of folders) {
    mkdirSync(folder, { recursive: true });
    await writeFile(join(folder, `${name}.png`), png);
  }
}

const ANSI = /\x1b\[[0-9;]*m/g;

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/** A child process with its stdout and stderr collected, to wait on lines and on its exit. */
export class RunningProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<Exit>;
  private stdout = '';
  private stderr = '';
  private readonly waiters = new Set<() => void>();

  constructor(command: string, args: string[], options: { env?: NodeJS.ProcessEnv } = {}) {
    this.child = spawn(command, args, { cwd: REPO_ROOT, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', ...options.env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => { this.stdout += chunk.replace(ANSI, ''); this.notify(); });
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => { this.stderr += chunk.replace(ANSI, ''); this.notify(); });
    this.exited = new Promise((resolveExit) => {
      this.child.on('close', (code, signal) => { resolveExit({ code, signal, output: this.stdout }); this.notify(); });
      this.child.on('error', (error) => { this.stderr += String(error); resolveExit({ code: null, signal: null, output: this.stdout }); this.notify(); });
    });
  }

  get output(): string {
    return this.stdout;
  }

  /** What it wrote to stdout and stderr, for failure messages. */
  transcript(): string {
    return `--- stdout\n${this.stdout}--- stderr\n${this.stderr.split('\n').filter((line) => !line.startsWith('npm warn')).join('\n')}`;
  }

  /** The first stdout line that passes `test`; fails after `timeoutMs` or when the process ends without one. */
  async waitForLine(test: (line: string) => boolean, what: string, timeoutMs = 20_000): Promise<string> {
    let exited = false;
    void this.exited.then(() => { exited = true; });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.stdout.split('\n').find(test);
      if (found !== undefined) return found;
      if (exited) throw new Error(`the process ended without printing ${what}\n${this.transcript()}`);
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${this.transcript()}`);
      await new Promise<void>((wake) => {
        const timer = setTimeout(wake, 200);
        this.waiters.add(() => { clearTimeout(timer); wake(); });
      });
    }
  }

  /** Its exit, or a failure after `timeoutMs`. */
  async waitForExit(timeoutMs = 20_000): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for the process to exit\n${this.transcript()}`)), timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Ends it and what it started (`npx` runs `tsx`, which runs node): its own process group. */
  stop(): void {
    if (this.child.exitCode !== null || this.child.signalCode !== null || this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, 'SIGTERM');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  }

  private notify(): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const wake of waiters) wake();
  }
}

/**
 * Opens a page in Chromium whose every answer comes from `answers` (by path; 404 otherwise): a
 * page's own layout tested without the local stack.
 */
export async function openServedPage(path: string, answers: Record<string, { contentType: string; body: () => string }>): Promise<{ browser: Browser; page: Page }> {
  const origin = 'http://page.test';
  const browser = await launchChromium();
  const context = await browser.newContext({ viewport: VIEWPORT, deviceScaleFactor: 1, locale: 'en-US', timezoneId: 'UTC' });
  await context.route(`${origin}/**`, async (route) => {
    const answer = answers[new URL(route.request().url()).pathname];
    await route.fulfill(answer === undefined ? { status: 404, body: '' } : { contentType: answer.contentType, body: answer.body() });
  });
  const page = await context.newPage();
  await page.goto(`${origin}${path}`);
  return { browser, page };
}
