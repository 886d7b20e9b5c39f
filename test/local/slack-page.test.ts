import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { slackPageHtml } from '../../local/slack/page.js';

/**
 * The workspace page's script, run against a minimal DOM (no browser here): it builds the page
 * with elements and text nodes only, interprets mrkdwn as Slack does (mentions, links, broadcast
 * chips, entities) and leaves plain_text literal, and sends a tap as the emulator expects it.
 */

class FakeNode {
  children: FakeNode[] = [];
  className = '';
  own = '';
  dataset: Record<string, string> = {};
  style: Record<string, string> = {};
  listeners: Record<string, ((event: unknown) => void)[]> = {};
  value = '';
  type = '';
  title = '';
  placeholder = '';
  rows = 0;
  maxLength = 0;
  scrollHeight = 0;
  scrollTop = 0;
  clientHeight = 0;
  constructor(readonly tag: string) {}
  get options(): FakeNode[] { return this.children; }
  get textContent(): string { return this.own + this.children.map((child) => child.textContent).join(''); }
  set textContent(text: string) { this.own = text; this.children = []; }
  get classList() { return { add: (name: string) => { this.className = `${this.className} ${name}`.trim(); } }; }
  appendChild(child: FakeNode): FakeNode { this.children.push(child); return child; }
  replaceChildren(...children: FakeNode[]): void { this.children = children; }
  addEventListener(type: string, listener: (event: unknown) => void): void { (this.listeners[type] ??= []).push(listener); }
  setAttribute(name: string, value: string): void { if (name.startsWith('data-')) this.dataset[name.slice(5)] = value; }
  click(): void { for (const listener of this.listeners.click ?? []) listener({}); }
  descendants(): FakeNode[] { return this.children.flatMap((child) => [child, ...child.descendants()]); }
  querySelectorAll(selector: string): FakeNode[] {
    const attribute = /\[data-([a-z-]+)\]/.exec(selector)?.[1]?.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase()) ?? '';
    return this.descendants().filter((node) => attribute in node.dataset);
  }
  find(className: string): FakeNode[] { return this.descendants().filter((node) => node.className.split(' ').includes(className)); }
}

const BOT = { bot_id: 'B0COUNTERSIGN', user: 'U0COUNTERSIGNBOT', type: 'message' };

function state(user: string): unknown {
  return {
    team: { id: 'T0LOCAL', name: 'Countersign (local Slack)' },
    timeScale: 600,
    users: [{ id: 'U0ALICE', name: 'alice', realName: 'Alice', groups: ['data-owners'], owns: ['billing-agent'] }, { id: 'U0BOB', name: 'bob', realName: 'Bob', groups: ['data-owners'], owns: [] }],
    channels: [{
      id: 'C0DATAOWNERS',
      name: 'approvals-data-owners',
      group: 'data-owners',
      purpose: 'Countersign approvals for data-owners',
      members: ['U0ALICE', 'U0BOB'],
      messages: [{
        ...BOT,
        ts: '1795316221.000100',
        text: 'fallback',
        edited: { user: 'U0COUNTERSIGNBOT', ts: '1795316222.000100' },
        blocks: [
          { type: 'header', text: { type: 'plain_text', text: 'Approval needed: db.export in prod' } },
          { type: 'section', text: { type: 'plain_text', text: '<script>alert(1)</script> <!channel> *not bold*' } },
          { type: 'section', text: { type: 'mrkdwn', text: '*Approved* by <@U0BOB> &lt;b&gt; <!channel> <https://evil.example|click me>' } },
          { type: 'rich_text', elements: [{ type: 'rich_text_preformatted', elements: [{ type: 'text', text: '{\n  "table": "<b>customers</b> <!channel>"\n}' }] }] },
          { type: 'actions', block_id: 'countersign_review_actions', elements: [{ type: 'button', action_id: 'approve', text: { type: 'plain_text', text: 'Approve' }, style: 'primary', value: 'rv-1' }] },
          { type: 'context', elements: [{ type: 'plain_text', text: 'Action export-1 \u00b7 review rv-1' }] },
        ],
        replies: [{ ...BOT, ts: '1795316223.000100', thread_ts: '1795316221.000100', text: '<@U0ALICE> reminder. Deadline: <!date^1577880000^{date_short_pretty} at {time}|2020-01-01 12:00 UTC>.' }],
      }],
    }, {
      id: 'C0SECURITY',
      name: 'approvals-security',
      group: 'security',
      purpose: 'Countersign approvals for security',
      members: ['U0BOB'],
      messages: [
        { ...BOT, ts: '1795316225.000100', text: 'one', blocks: [{ type: 'context', elements: [{ type: 'plain_text', text: 'Action <b>x · review rv-2' }] }] },
        { ...BOT, ts: '1795316226.000100', text: 'two', replies: [{ ...BOT, ts: '1795316227.000100', thread_ts: '1795316226.000100', text: 'reply' }] },
      ],
    }],
    ephemerals: user === 'U0ALICE' ? [{ source: 'app', channel: 'C0DATAOWNERS', user: 'U0ALICE', ts: '1795316224.000100', text: 'You cannot vote on this request' }] : [],
    modal: user === 'U0BOB'
      ? { view: { id: 'V0MODAL', hash: 'h', title: { type: 'plain_text', text: 'Deny request' }, submit: { type: 'plain_text', text: 'Deny' }, blocks: [{ type: 'input', block_id: 'countersign_deny_reason', label: { type: 'plain_text', text: 'Reason' }, element: { type: 'plain_text_input', action_id: 'reason', multiline: true } }] }, errors: { countersign_deny_reason: 'a deny needs a reason' } }
      : null,
  };
}

async function renderPage(user: string) {
  const ids = new Map<string, FakeNode>();
  const byId = (id: string): FakeNode => {
    if (!ids.has(id)) ids.set(id, new FakeNode(id === 'acting' ? 'select' : 'div'));
    return ids.get(id) as FakeNode;
  };
  const posted: { path: string; body: unknown }[] = [];
  const storage = new Map<string, string>([['countersign.user', user], ['countersign.channel', 'C0DATAOWNERS']]);
  const context = vm.createContext({
    document: {
      getElementById: byId,
      createElement: (tag: string) => new FakeNode(tag),
      createTextNode: (text: string) => Object.assign(new FakeNode('#text'), { own: text }),
      querySelectorAll: (selector: string) => ids.get('modal')?.querySelectorAll(selector) ?? [],
    },
    window: { localStorage: { getItem: (key: string) => storage.get(key) ?? null, setItem: (key: string, value: string) => storage.set(key, value) } },
    fetch: async (path: string, init?: { body?: string }) => {
      if (path.startsWith('/slack/state')) {
        const who = new URLSearchParams(path.split('?')[1]).get('user') ?? '';
        return { text: async () => JSON.stringify(state(who)) };
      }
      posted.push({ path, body: JSON.parse(init?.body ?? '{}') });
      return { ok: true, status: 200, json: async () => ({ status: 200 }) };
    },
    setInterval: () => 0,
    setTimeout: () => 0,
    clearTimeout: () => undefined,
  });
  const html = slackPageHtml({ nonce: 'n', teamName: 'Countersign (local Slack)' });
  vm.runInContext(/<script nonce="n">([\s\S]*)<\/script>/.exec(html)?.[1] ?? '', context);
  for (let i = 0; i < 20 && byId('messages').children.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 5));
  return { posted, messages: byId('messages'), modal: byId('modal'), backdrop: byId('modal-backdrop'), byId };
}

describe('the workspace page script', () => {
  it('shows plain_text literally and interprets mrkdwn as Slack does, without following links', async () => {
    const { messages } = await renderPage('U0ALICE');
    const plain = messages.find('plain').map((node) => node.textContent);
    expect(plain).toContain('<script>alert(1)</script> <!channel> *not bold*');
    expect(messages.descendants().some((node) => node.tag === 'script' || node.tag === 'a')).toBe(false);
    expect(messages.find('mention').map((node) => node.textContent)).toEqual(expect.arrayContaining(['@bob', '@alice']));
    expect(messages.find('broadcast').map((node) => node.textContent)).toEqual(['@channel']);
    const link = messages.find('link')[0];
    expect(link?.textContent).toBe('click me');
    expect(link?.title).toContain('https://evil.example');
    expect(messages.textContent).toContain('<b>');
    expect(messages.descendants().find((node) => node.tag === 'b')?.textContent).toBe('Approved');
    expect(messages.find('edited')).toHaveLength(1);
  });

  it('shows the acting member their ephemeral messages, and thread replies under the message', async () => {
    const alice = await renderPage('U0ALICE');
    expect(alice.messages.find('ephemeral').map((node) => node.textContent).join()).toContain('You cannot vote on this request');
    expect(alice.messages.find('thread')[0]?.textContent).toContain('@alice reminder');
    const bob = await renderPage('U0BOB');
    expect(bob.messages.find('ephemeral')).toHaveLength(0);
    expect(alice.backdrop.style.display).not.toBe('flex');
  });

  it('sends a tap to the emulator with the message and the button', async () => {
    const { messages, posted } = await renderPage('U0BOB');
    const approve = messages.descendants().find((node) => node.tag === 'button' && node.textContent === 'Approve');
    approve?.listeners.click?.[0]?.({});
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(posted).toEqual([{ path: '/slack/act', body: { user: 'U0BOB', channel: 'C0DATAOWNERS', ts: '1795316221.000100', actionId: 'approve', blockId: 'countersign_review_actions' } }]);
  });

  it('shows the member\'s modal with its inputs and errors, and submits what was typed', async () => {
    const { modal, backdrop, posted } = await renderPage('U0BOB');
    expect(backdrop.style.display).toBe('flex');
    expect(modal.textContent).toContain('Deny request');
    const [field] = modal.querySelectorAll('[data-block-id]');
    expect(field?.tag).toBe('textarea');
    expect(modal.querySelectorAll('[data-error-for]')[0]?.textContent).toBe('a deny needs a reason');
    (field as FakeNode).value = 'not this quarter';
    const submit = modal.descendants().find((node) => node.tag === 'button' && node.textContent === 'Deny');
    submit?.listeners.click?.[0]?.({});
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(posted).toEqual([{ path: '/slack/views/submit', body: { user: 'U0BOB', viewId: 'V0MODAL', values: { countersign_deny_reason: { reason: 'not this quarter' } } } }]);
  });

  it('marks review messages with their ts and action id, and channels with their name and unread count', async () => {
    const { messages, byId } = await renderPage('U0BOB');
    const review = messages.find('message').find((node) => node.dataset.ts === '1795316221.000100');
    expect(review?.dataset.actionId).toBe('export-1');
    const channels = byId('channels').children;
    expect(channels.map((node) => node.dataset.channel)).toEqual(['approvals-data-owners', 'approvals-security']);
    expect(channels[0]?.find('badge')).toHaveLength(0);
    expect(channels[1]?.find('badge').map((node) => node.textContent)).toEqual(['3']);
    channels[1]?.click();
    expect(byId('channel-title').textContent).toBe('# approvals-security');
    expect(byId('channels').children[1]?.find('badge')).toHaveLength(0);
    // A context line that is not the renderer's "Action <id> · review <id>" names no action.
    expect(messages.find('message').map((node) => node.dataset.actionId ?? '')).toEqual(['', '', '']);
  });

  it('counts no unread messages in a channel the member is not in, as Slack does', async () => {
    const { byId } = await renderPage('U0ALICE');
    const security = byId('channels').children.find((node) => node.dataset.channel === 'approvals-security');
    expect(security?.find('badge')).toHaveLength(0);
    expect(security?.className).not.toContain('unread');
  });

  it('shows a request\'s parameters as a monospaced block of literal text', async () => {
    const { messages } = await renderPage('U0BOB');
    const blocks = messages.descendants().filter((node) => node.tag === 'pre');
    expect(blocks.map((node) => [node.className, node.textContent])).toEqual([['preformatted', '{\n  "table": "<b>customers</b> <!channel>"\n}']]);
    expect(blocks[0]?.find('broadcast')).toHaveLength(0);
  });

  it('shows a Slack date token in the reader\'s time zone, not as markup', async () => {
    const { messages } = await renderPage('U0BOB');
    const reminder = messages.find('thread')[0]?.textContent ?? '';
    const time = new Date(1577880000 * 1000).toLocaleTimeString([], { hour: 'numeric', minute: '2-digit' });
    expect(reminder).toContain(`Deadline: ${new Date(1577880000 * 1000).toLocaleDateString([], { month: 'short', day: 'numeric', year: 'numeric' })} at ${time}.`);
    expect(reminder).not.toContain('<!date');
  });

  it('shows who the member acts as: groups and the agents they own', async () => {
    const { byId } = await renderPage('U0ALICE');
    expect(byId('acting').options.map((option) => option.value)).toEqual(['U0ALICE', 'U0BOB']);
    expect(byId('acting').value).toBe('U0ALICE');
    const info = byId('acting-info').textContent;
    expect(info).toContain('@alice');
    expect(info).toContain('data-owners');
    expect(info).toContain('Owns billing-agent');
    expect((await renderPage('U0BOB')).byId('acting-info').textContent).toContain('Owns no agent');
  });

  it('folds a thread into "N replies" that opens on a click', async () => {
    const { messages } = await renderPage('U0BOB');
    const summary = messages.find('thread-summary')[0];
    expect(summary?.find('thread-count')[0]?.textContent).toBe('1 reply');
    expect(messages.find('thread')[0]?.className).toContain('collapsed');
    summary?.click();
    expect(messages.find('thread')[0]?.className).not.toContain('collapsed');
    expect(messages.find('thread')[0]?.textContent).toContain('@alice reminder.');
  });

  it('shows an ephemeral message as only visible to this member, until dismissed', async () => {
    const { messages } = await renderPage('U0ALICE');
    const notice = messages.find('ephemeral')[0];
    expect(notice?.textContent).toContain('Only visible to you');
    notice?.find('dismiss')[0]?.click();
    expect(messages.find('ephemeral')).toHaveLength(0);
    expect(messages.textContent).toContain('Approval needed');
  });

  it('checks a required input before submitting, as Slack does', async () => {
    const { modal, posted } = await renderPage('U0BOB');
    const [field] = modal.querySelectorAll('[data-block-id]');
    (field as FakeNode).value = '   ';
    modal.descendants().find((node) => node.tag === 'button' && node.textContent === 'Deny')?.click();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(posted).toEqual([]);
    expect(modal.querySelectorAll('[data-error-for]')[0]?.textContent).toBe('Please complete this required field.');
  });
});
