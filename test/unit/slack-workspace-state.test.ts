import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Directory, type DirectoryData } from '../../shared/domain/directory.js';
import { SlackWorkspace, SlackWorkspaceFileError } from '../../local/slack/workspace.js';

const directory: DirectoryData = Directory.parse(JSON.parse(readFileSync(new URL('../../config/directory.json', import.meta.url), 'utf8'))).data;
const TOKEN = 'xoxb-test';
let dir: string;
let stateFile: string;

const workspace = () => new SlackWorkspace({ directory, botToken: TOKEN, rateLimit: false, stateFile });

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'countersign-slack-state-'));
  stateFile = join(dir, 'slack', 'workspace.json');
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('the local Slack workspace across restarts', () => {
  it('keeps messages, updates and thread replies; a new post after the restart gets a later ts', () => {
    const first = workspace();
    const posted = first.call('chat.postMessage', { channel: 'C0DATAOWNERS', text: 'review 1' }, TOKEN) as { ts: string };
    first.call('chat.update', { channel: 'C0DATAOWNERS', ts: posted.ts, text: 'review 1 (approved)' }, TOKEN);
    first.call('chat.postMessage', { channel: 'C0DATAOWNERS', thread_ts: posted.ts, text: 'reminder' }, TOKEN);
    first.flush();

    const second = workspace();
    expect(second.messages('C0DATAOWNERS').map((m) => [m.ts, m.text])).toEqual([[posted.ts, 'review 1 (approved)']]);
    expect(second.threadReplies('C0DATAOWNERS', posted.ts).map((m) => m.text)).toEqual(['reminder']);
    const later = second.call('chat.postMessage', { channel: 'C0DATAOWNERS', text: 'review 2' }, TOKEN) as { ts: string };
    expect(Number(later.ts)).toBeGreaterThan(Number(posted.ts));
  });

  it('writes by itself shortly after a change, without flush', async () => {
    const first = workspace();
    first.call('chat.postMessage', { channel: 'C0SECURITY', text: 'saved' }, TOKEN);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(workspace().messages('C0SECURITY').map((m) => m.text)).toEqual(['saved']);
  });

  it('keeps no ephemeral messages (Slack does not either)', () => {
    const first = workspace();
    first.addEphemeral('C0SECURITY', 'U0BOB', 'only for bob', undefined, 'app');
    first.flush();
    expect(workspace().ephemeralsFor('U0BOB')).toEqual([]);
  });

  it('refuses an unreadable file with one line that names it and says what to do', () => {
    workspace().flush();
    writeFileSync(stateFile, '{ not json');
    expect(() => workspace()).toThrow(SlackWorkspaceFileError);
    expect(() => workspace()).toThrow(/workspace\.json cannot be read .*; delete it to start with empty channels/);
  });
});
