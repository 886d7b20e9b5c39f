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
    users: [{ id: 'U0ALICE', name: 'alice', groups: ['data-owners'] }, { id: 'U0BOB', name: 'bob', groups: ['data-owners'] }],
    channels: [{
      id: 'C0DATAOWNERS',
      name: 'approvals-data-owners',
      messages: [{
        ...BOT,
        ts: '1795316221.000100',
        text: 'fallback',
        edited: { user: 'U0COUNTERSIGNBOT', ts: '1795316222.000100' },
        blocks: [
          { type: 'header', text: { type: 'plain_text', text: 'Approval needed: db.export in prod' } },
          { type: 'section', text: { type: 'plain_text', text: '<script>alert(1)</script> <!channel> *not bold*' } },
          { type: 'section', text: { type: 'mrkdwn', text: '*Approved* by <@U0BOB> &lt;b&gt; <!channel> <https://evil.example|click me>' } },
          { type: 'actions', block_id: 'countersign_review_actions', elements: [{ type: 'button', action_id: 'approve', text: { type: 'plain_text', text: 'Approve' }, style: 'primary', value: 'rv-1' }] },
        ],
        replies: [{ ...BOT, ts: '1795316223.000100', thread_ts: '1795316221.000100', text: '<@U0ALICE> reminder' }],
      }],
    }],
    ephemerals: user === 'U0ALICE' ? [{ source: 'app', channel: 'C0DATAOWNERS', user: 'U0ALICE', ts: '1795316224.000100', text: 'You cannot vote on this request' }] : [],
    modal: user === 'U0BOB'
      ? { view: { id: 'V0MODAL', hash: 'h', title: { type: 'plain_text', text: 'Deny request' }, submit: { type: 'plain_text', text: 'Deny' }, blocks: [{ type: 'input', block_id: 'countersign_deny_reason', label: { type: 'plain_text', text: 'Reason' }, element: { type: 'plain_text_input', action_id: 'reason', multiline: true } }] }, errors: { countersign_deny_reason: 'a deny needs a reason' } }
      : null,
  };
}

async function renderPage(user: string) {
  const ids = new Map<string, FakeNode>();
  for (const id of ['team', 'acting', 'channels', 'scale', 'channel-title', 'messages', 'modal-backdrop', 'modal', 'toast']) ids.set(id, new FakeNode(id === 'acting' ? 'select' : 'div'));
  const posted: { path: string; body: unknown }[] = [];
  const storage = new Map<string, string>([['countersign.user', user]]);
  const context = vm.createContext({
    document: {
      getElementById: (id: string) => ids.get(id),
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
  for (let i = 0; i < 20 && ids.get('messages')?.children.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 5));
  return { posted, messages: ids.get('messages') as FakeNode, modal: ids.get('modal') as FakeNode, backdrop: ids.get('modal-backdrop') as FakeNode };
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
});
