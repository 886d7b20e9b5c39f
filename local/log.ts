/**
 * The local stack's terminal output: short lines a person reads while agents send requests.
 * Colours only on an interactive terminal (never with CI=true or NO_COLOR), so piped output and
 * CI logs stay plain text.
 */
import { labelHidden } from '../shared/domain/code-point-label.js';

export type Tone = 'plain' | 'dim' | 'ok' | 'warn' | 'error' | 'accent';

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  /** One step of one request, aligned in columns: `12:00:01 requested  billing-1  db.query ...`. */
  step(step: string, subject: string, message: string, tone?: Tone): void;
}

const ANSI: Record<Tone, [string, string]> = {
  plain: ['', ''],
  dim: ['\u001b[2m', '\u001b[22m'],
  ok: ['\u001b[32m', '\u001b[39m'],
  warn: ['\u001b[33m', '\u001b[39m'],
  error: ['\u001b[31m', '\u001b[39m'],
  accent: ['\u001b[36m', '\u001b[39m'],
};

/** How each outcome is coloured on the terminal, wherever its line comes from. */
export const OUTCOME_TONES: Readonly<Record<string, Tone>> = { allowed: 'ok', approved: 'ok', denied: 'error', rejected: 'error', expired: 'error', invalid: 'warn' };

export function colourWanted(stream: { isTTY?: boolean }, env: Record<string, string | undefined> = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.CI === 'true' || env.CI === '1') return false;
  return stream.isTTY === true;
}

/**
 * Text that agents (or reviewers) wrote, made safe for one terminal line: a newline in a resource id
 * could otherwise print a forged line ("approved by bob"), and an escape sequence could clear or
 * retitle the terminal. Each such character is shown as `[U+XXXX]`, as in the Slack messages.
 */
export function printable(text: string): string {
  return labelHidden(text);
}

function clock(date: Date): string {
  return date.toISOString().slice(11, 19);
}

export interface LoggerOptions {
  /** Where each finished line goes; defaults to stdout. */
  write?: (line: string) => void;
  /** Defaults to colours on a TTY only. */
  colour?: boolean;
  now?: () => Date;
}

/** Colours text for a terminal; returns it unchanged when `colour` is false (piped, CI, NO_COLOR). */
export function painter(colour: boolean): (tone: Tone, text: string) => string {
  return (tone, text) => {
    if (!colour || tone === 'plain') return text;
    const [open, close] = ANSI[tone];
    return `${open}${text}${close}`;
  };
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const write = options.write ?? ((line: string) => { process.stdout.write(`${line}\n`); });
  const colour = options.colour ?? colourWanted(process.stdout);
  const now = options.now ?? (() => new Date());
  const paint = painter(colour);
  return {
    info: (message) => write(message),
    warn: (message) => write(paint('warn', `warning: ${message}`)),
    error: (message) => write(paint('error', `error: ${message}`)),
    step: (step, subject, message, tone = 'plain') => {
      // The colours are added after: only the text that came in is made printable.
      write(`${paint('dim', clock(now()))} ${paint(tone, step.padEnd(10))} ${paint('accent', printable(subject))}  ${printable(message)}`.trimEnd());
    },
  };
}

/** A logger that keeps its lines (plain text) for tests and for callers that print later. */
export function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const logger = createLogger({ write: (line) => lines.push(line), colour: false });
  return Object.assign(logger, { lines });
}

export const silentLogger: Logger = {
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  step: () => undefined,
};
