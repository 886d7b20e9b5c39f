import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cachedDefinition, definitionCacheFile, definitionSourceKey } from '../../local/definition-cache.js';
import { MINIMAL_APPROVAL } from '../local/support.js';

let root: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'countersign-definition-'));
  mkdirSync(join(root, 'infra'), { recursive: true });
  writeFileSync(join(root, 'infra', 'stack.ts'), 'export const timeout = 30;\n');
  writeFileSync(join(root, 'package-lock.json'), '{}');
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('the kept workflow definition', () => {
  it('synthesizes once for a given source, and again after any change to it', async () => {
    let syntheses = 0;
    const synthesize = async () => {
      syntheses += 1;
      return MINIMAL_APPROVAL;
    };
    expect(await cachedDefinition(root, synthesize)).toEqual(MINIMAL_APPROVAL);
    expect(await cachedDefinition(root, synthesize)).toEqual(MINIMAL_APPROVAL);
    expect(syntheses).toBe(1);

    const before = definitionSourceKey(root);
    writeFileSync(join(root, 'infra', 'stack.ts'), 'export const timeout = 31;\n');
    expect(definitionSourceKey(root)).not.toBe(before);
    await cachedDefinition(root, synthesize);
    expect(syntheses).toBe(2);

    // A new file in a source folder, or a changed lock file, counts too.
    mkdirSync(join(root, 'shared'));
    writeFileSync(join(root, 'shared', 'config.ts'), 'export {};\n');
    await cachedDefinition(root, synthesize);
    writeFileSync(join(root, 'package-lock.json'), '{"lockfileVersion":3}');
    await cachedDefinition(root, synthesize);
    expect(syntheses).toBe(4);
  });

  it('synthesizes again when the kept file is unreadable', async () => {
    let syntheses = 0;
    const synthesize = async () => {
      syntheses += 1;
      return MINIMAL_APPROVAL;
    };
    await cachedDefinition(root, synthesize);
    writeFileSync(definitionCacheFile(root, definitionSourceKey(root)), '{"definition":');
    expect(await cachedDefinition(root, synthesize)).toEqual(MINIMAL_APPROVAL);
    expect(syntheses).toBe(2);
  });
});
