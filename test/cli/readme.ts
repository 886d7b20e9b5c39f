import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../local/local-stack.js';

export interface FencedBlock {
  lang: string;
  body: string;
  /** Offset of the opening fence in the README. */
  start: number;
  end: number;
}

export function readmeText(): string {
  return readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
}

/** Every fenced code block of the README, in order (indented fences inside lists included). */
export function fencedBlocks(text = readmeText()): FencedBlock[] {
  const blocks: FencedBlock[] = [];
  const fence = /^([ \t]*)```(\w*)[^\n]*\n([\s\S]*?)^\1```[ \t]*$/gm;
  for (const match of text.matchAll(fence)) {
    const indent = match[1] ?? '';
    const body = (match[3] ?? '').split('\n').map((line) => (line.startsWith(indent) ? line.slice(indent.length) : line)).join('\n');
    blocks.push({ lang: match[2] ?? '', body, start: match.index, end: match.index + match[0].length });
  }
  return blocks;
}

/**
 * The block of language `lang` that contains `marker`, or else the first one after it: how a test
 * finds "the try.mjs" or "the curl line" without copying them.
 */
export function readmeBlock(lang: string, marker: string): string {
  const text = readmeText();
  const at = text.indexOf(marker);
  if (at < 0) throw new Error(`the README no longer says "${marker}"`);
  const blocks = fencedBlocks(text).filter((block) => block.lang === lang);
  const block = blocks.find((b) => b.start <= at && at < b.end) ?? blocks.find((b) => b.start > at);
  if (block === undefined) throw new Error(`no \`\`\`${lang} block at or after "${marker}" in the README`);
  return block.body;
}
