import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bannerLines, STARTING_LINE, startupLine } from '../../local/banner.js';
import { REPO_ROOT } from '../../local/local-stack.js';
import { readmeBlock } from '../cli/readme.js';

/** The banner the README shows is the banner `npm start` prints with its defaults (port 4010, .countersign). */
describe('the npm start banner', () => {
  const defaults = {
    url: 'http://127.0.0.1:4010',
    port: 4010,
    slackApiUrl: 'http://127.0.0.1:4010/api/',
    dataDir: join(REPO_ROOT, '.countersign'),
    auditDir: join(REPO_ROOT, '.countersign', 'audit-bucket'),
    timeScale: 1,
    defaultSlackSecrets: true,
    cwd: REPO_ROOT,
  };

  it('is, line for line, what the README says you see', () => {
    const readme = readmeBlock('', 'You see a short banner').split('\n');
    // The last line says where the start's time went, with the figures of a start measured on a 2-core machine.
    const timings = { 'DynamoDB Local': 4_580, 'workflow definition': 10, 'handler modules': 2_090, 'decision table': 190, 'audit trail': 20 };
    const printed = [STARTING_LINE, ...bannerLines(defaults), startupLine(timings, 1_010, 5_920)];
    expect(readme.join('\n').trimEnd()).toBe(printed.join('\n').trimEnd());
  });

  it('points the demo and verify at a stack started elsewhere, and says how fast time runs', () => {
    const lines = bannerLines({ ...defaults, url: 'http://127.0.0.1:4011', port: 4011, dataDir: '/tmp/cs', auditDir: '/tmp/cs/audit-bucket', timeScale: 600 });
    expect(lines).toContain('  try it         npm run demo -- --endpoint http://127.0.0.1:4011   in another terminal: a demo agent asks for six actions');
    expect(lines).toContain('                 npm run audit -- verify --dir /tmp/cs/audit-bucket');
    expect(lines.some((line) => line.startsWith('  workflow       600x faster (--time-scale N)   data in /tmp/cs'))).toBe(true);
  });

  it('leaves out the audit lines when the stack keeps no audit trail', () => {
    expect(bannerLines({ ...defaults, auditDir: undefined }).join('\n')).not.toContain('audit ');
  });
});
