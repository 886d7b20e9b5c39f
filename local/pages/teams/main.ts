import * as AC from 'adaptivecards';
import { el, getJson, poll, postJson } from '../shared/client.js';

/** The local Teams client: teams and channels, threads of cards drawn by Microsoft's renderer, act-as. */

interface Activity { id: string; timestamp: string; from: { name: string }; attachments: Array<{ contentType: string; content: unknown }>; text?: string; personal?: boolean }
interface Thread { conversationId: string; root: Activity; replies: Activity[] }
interface Channel { id: string; name: string; team: string; group: string; members: string[]; threads: Thread[] }
interface User { id: string; name: string; email: string; groups: string[] }
interface State { users: User[]; channels: Channel[] }

const store = window.localStorage;
let user = store.getItem('countersign.teams.user') ?? '';
let channelId = store.getItem('countersign.teams.channel') ?? '';
let last = '';
const tapErrors = new Map<string, string>();

const hostConfig = new AC.HostConfig({
  fontFamily: 'Segoe UI, system-ui, sans-serif',
  actions: { actionsOrientation: 'horizontal', showCard: { actionMode: 'inline' } },
});

function renderCard(activity: Activity, conversationId: string, interactive: boolean): HTMLElement {
  const holder = el('div', 'card');
  for (const attachment of activity.attachments) {
    if (attachment.contentType !== 'application/vnd.microsoft.card.adaptive') continue;
    const card = new AC.AdaptiveCard();
    card.hostConfig = hostConfig;
    card.parse(attachment.content as object);
    card.onExecuteAction = (action) => {
      if (!interactive || !(action instanceof AC.ExecuteAction)) return;
      void tap(conversationId, action.verb ?? '', (action.data ?? {}) as Record<string, unknown>);
    };
    const node = card.render();
    if (node !== undefined) holder.appendChild(node);
  }
  if (activity.text !== undefined) holder.appendChild(el('p', '', activity.text));
  return holder;
}

async function tap(conversationId: string, verb: string, data: Record<string, unknown>): Promise<void> {
  const result = await postJson<{ status: number; error?: string }>('/teams/act', { user, conversationId, verb, data });
  if (result.status === 200) tapErrors.delete(conversationId);
  else tapErrors.set(conversationId, `The bot answered HTTP ${result.status}: ${result.error ?? ''}`);
  last = '';
  await refresh.now();
}

function renderChannels(state: State): void {
  const list = document.getElementById('channels')!;
  list.replaceChildren();
  let team = '';
  for (const channel of state.channels) {
    if (channel.team !== team) {
      team = channel.team;
      list.appendChild(el('li', 'team', team));
    }
    const item = el('li');
    const button = el('button', '', `# ${channel.name}`);
    button.dataset.channel = channel.id;
    button.setAttribute('aria-current', String(channel.id === channelId));
    button.addEventListener('click', () => {
      channelId = channel.id;
      store.setItem('countersign.teams.channel', channelId);
      last = '';
      void refresh.now();
    });
    item.appendChild(button);
    list.appendChild(item);
  }
}

function renderThreads(channel: Channel | undefined): void {
  document.getElementById('channel-title')!.textContent = channel === undefined ? 'No channel' : `${channel.team} > ${channel.name}`;
  document.getElementById('channel-sub')!.textContent = channel === undefined ? '' : `Approvals for ${channel.group}: ${channel.members.join(', ')}`;
  const threads = document.getElementById('threads')!;
  threads.replaceChildren();
  for (const thread of channel?.threads ?? []) {
    const box = el('article', 'thread');
    box.dataset.conversation = thread.conversationId;
    const author = el('div', 'author', thread.root.from.name);
    author.appendChild(el('span', 'time', new Date(thread.root.timestamp).toLocaleString()));
    if (thread.root.personal === true) author.appendChild(el('span', 'personal', 'updated for you'));
    box.appendChild(author);
    box.appendChild(renderCard(thread.root, thread.conversationId, true));
    const error = tapErrors.get(thread.conversationId);
    if (error !== undefined) box.appendChild(el('p', 'tap-error', error));
    if (thread.replies.length > 0) {
      const replies = el('div', 'replies');
      for (const reply of thread.replies) {
        const line = el('div', 'reply');
        line.appendChild(el('div', 'author', reply.from.name));
        line.appendChild(renderCard(reply, thread.conversationId, false));
        replies.appendChild(line);
      }
      box.appendChild(replies);
    }
    threads.appendChild(box);
  }
}

function renderMe(state: State): void {
  const select = document.getElementById('act-as') as HTMLSelectElement;
  if (select.options.length !== state.users.length) {
    select.replaceChildren(...state.users.map((u) => {
      const option = el('option', '', `${u.name} · ${u.groups.length > 0 ? u.groups.join(', ') : 'no group'}`);
      option.value = u.id;
      return option;
    }));
  }
  select.value = user;
  const me = state.users.find((u) => u.id === user);
  const box = document.getElementById('me')!;
  box.replaceChildren(el('div', 'author', me?.name ?? ''), el('div', 'hint', me?.email ?? ''), el('div', 'hint', `Entra ID object id ${me?.id ?? ''}`));
  for (const group of me?.groups ?? []) box.appendChild(el('span', 'chip', group));
}

const refresh = poll(async () => {
  const state = await getJson<State>(`/teams/state?user=${encodeURIComponent(user)}`);
  if (!state.users.some((u) => u.id === user)) user = state.users[0]?.id ?? '';
  if (!state.channels.some((c) => c.id === channelId)) channelId = state.channels[0]?.id ?? '';
  // Re-render only on change: a half-typed deny reason must survive the poll.
  const snapshot = JSON.stringify([state, user, channelId, [...tapErrors]]);
  if (snapshot === last) return;
  last = snapshot;
  renderMe(state);
  renderChannels(state);
  renderThreads(state.channels.find((c) => c.id === channelId));
}, 1000);

document.getElementById('act-as')!.addEventListener('change', (event) => {
  user = (event.target as HTMLSelectElement).value;
  store.setItem('countersign.teams.user', user);
  last = '';
  void refresh.now();
});
void refresh.now();
