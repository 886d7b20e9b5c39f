/**
 * The workspace page (`GET /slack`): channels, their messages rendered from Block Kit, threads,
 * in-place updates, ephemeral messages and modals, and an "act as" switch over every member of
 * the directory. Plain HTML and one inline script that polls `/slack/state`.
 *
 * Every piece of text is put in the page as text (`textContent`), never as HTML: what an agent
 * wrote can only ever be shown, not run. Slack's mrkdwn is interpreted the way Slack does (mentions,
 * links, dates, *bold*), but a link is shown, not followed, and a broadcast mention (`<!channel>`)
 * is shown as the alarming chip it would be in Slack. A Content-Security-Policy with a per-response
 * nonce backs this up: no other script can run on the page.
 */

export function slackPageHtml(options: { nonce: string; teamName: string }): string {
  const { nonce } = options;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Countersign local Slack</title>
<style nonce="${nonce}">
  :root { --side: #3f0e40; --side-text: #cfc3cf; --accent: #1264a3; --border: #ddd; --muted: #616061; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 15px/1.46 -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #1d1c1d; display: flex; height: 100vh; }
  #side { width: 260px; background: var(--side); color: var(--side-text); padding: 12px; overflow-y: auto; flex-shrink: 0; }
  #side h1 { font-size: 17px; color: #fff; margin: 4px 0 12px; }
  #side label { display: block; font-size: 12px; margin: 12px 0 4px; text-transform: uppercase; letter-spacing: .04em; }
  #side select { width: 100%; padding: 4px; }
  #channels button { display: flex; justify-content: space-between; width: 100%; text-align: left; background: none; border: 0; color: var(--side-text); padding: 4px 8px; border-radius: 6px; cursor: pointer; font-size: 15px; }
  #channels button.active { background: #1164a3; color: #fff; }
  #channels .count { font-size: 12px; opacity: .8; }
  #scale { font-size: 12px; margin-top: 16px; }
  main { flex: 1; display: flex; flex-direction: column; min-width: 0; }
  #channel-title { padding: 12px 20px; border-bottom: 1px solid var(--border); font-weight: 700; font-size: 18px; }
  #messages { flex: 1; overflow-y: auto; padding: 8px 20px 40px; }
  .message { padding: 8px 0; border-bottom: 1px solid #f2f2f2; }
  .meta { font-size: 13px; color: var(--muted); margin-bottom: 2px; }
  .meta .who { font-weight: 700; color: #1d1c1d; margin-right: 6px; }
  .meta .app { font-size: 10px; background: #e8e8e8; border-radius: 3px; padding: 0 3px; margin-right: 6px; }
  .edited { font-size: 12px; color: var(--muted); margin-left: 4px; }
  .block { margin: 4px 0; white-space: pre-wrap; overflow-wrap: anywhere; }
  .header { font-size: 18px; font-weight: 700; }
  .fields { display: grid; grid-template-columns: 1fr 1fr; gap: 4px 16px; }
  .context { font-size: 13px; color: var(--muted); }
  .context > * { margin-right: 8px; }
  .actions button, .accessory button, .modal-buttons button { border: 1px solid #bbb; background: #fff; border-radius: 4px; padding: 4px 12px; margin-right: 8px; font-weight: 700; cursor: pointer; }
  .actions button.primary, .modal-buttons button.submit { background: #007a5a; color: #fff; border-color: #007a5a; }
  .actions button.danger { background: #e01e5a; color: #fff; border-color: #e01e5a; }
  .mention { background: #e8f5fa; color: var(--accent); border-radius: 3px; padding: 0 2px; }
  .broadcast { background: #fff0b3; color: #7a4b00; border-radius: 3px; padding: 0 2px; font-weight: 700; }
  .link { color: var(--accent); text-decoration: underline dotted; cursor: help; }
  code { background: #f6f6f6; border: 1px solid #e8e8e8; border-radius: 3px; padding: 0 3px; font-size: 13px; }
  .thread { margin: 6px 0 0 24px; padding-left: 12px; border-left: 3px solid #e8e8e8; }
  .thread-count { font-size: 13px; color: var(--accent); font-weight: 700; }
  .ephemeral { background: #f8f8f8; border-left: 3px solid #aaa; padding: 6px 10px; margin: 6px 0; }
  .ephemeral.slack { border-left-color: #e01e5a; }
  .only-you { font-size: 12px; color: var(--muted); }
  .unsupported { color: #a00; font-size: 13px; }
  #modal-backdrop { position: fixed; inset: 0; background: rgba(0,0,0,.45); display: none; align-items: center; justify-content: center; }
  #modal { background: #fff; width: 520px; max-height: 90vh; overflow-y: auto; border-radius: 8px; padding: 20px; }
  #modal h2 { margin: 0 0 12px; font-size: 20px; }
  #modal textarea, #modal input[type=text] { width: 100%; font: inherit; padding: 6px; border: 1px solid #bbb; border-radius: 4px; }
  #modal .input-label { font-weight: 700; margin-top: 10px; display: block; }
  #modal .hint { font-size: 13px; color: var(--muted); }
  .error { color: #e01e5a; font-size: 13px; }
  .modal-buttons { text-align: right; margin-top: 16px; }
  #toast { position: fixed; bottom: 16px; right: 16px; background: #1d1c1d; color: #fff; padding: 8px 14px; border-radius: 6px; display: none; max-width: 480px; }
  .empty { color: var(--muted); padding: 24px 0; }
</style>
</head>
<body>
<nav id="side">
  <h1 id="team"></h1>
  <label for="acting">Act as</label>
  <select id="acting"></select>
  <label>Channels</label>
  <div id="channels"></div>
  <div id="scale"></div>
</nav>
<main>
  <div id="channel-title"></div>
  <div id="messages"></div>
</main>
<div id="modal-backdrop"><div id="modal" role="dialog" aria-modal="true"></div></div>
<div id="toast" role="status"></div>
<script nonce="${nonce}">
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const el = (tag, className, text) => {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  };
  const store = window.localStorage;
  let data = null;
  let lastJson = '';
  let modalKey = '';
  let user = store.getItem('countersign.user') || '';
  let channel = store.getItem('countersign.channel') || '';

  const EMOJI = { white_check_mark: '\\u2705', no_entry: '\\u26d4', hourglass: '\\u231b', rotating_light: '\\ud83d\\udea8', warning: '\\u26a0\\ufe0f', lock: '\\ud83d\\udd12', bell: '\\ud83d\\udd14', x: '\\u274c' };

  function toast(text) {
    const node = $('toast');
    node.textContent = text;
    node.style.display = 'block';
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { node.style.display = 'none'; }, 6000);
  }

  function userName(id) {
    const found = data && data.users.find((u) => u.id === id);
    return found ? found.name : id;
  }

  function channelName(id) {
    const found = data && data.channels.find((c) => c.id === id);
    return found ? found.name : id;
  }

  function decode(text) {
    return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
  }

  /** *bold*, _italic_, ~strike~, \`code\` and :emoji:, as text nodes in styled elements. */
  function formatted(text, into) {
    const pattern = /(\\*[^*\\n]+\\*|_[^_\\n]+_|~[^~\\n]+~|\`[^\`\\n]+\`|:[a-z0-9_+-]+:)/;
    for (const piece of text.split(pattern)) {
      if (piece === '') continue;
      const inner = piece.slice(1, -1);
      if (/^\\*[^*\\n]+\\*$/.test(piece)) into.appendChild(el('b', '', inner));
      else if (/^_[^_\\n]+_$/.test(piece)) into.appendChild(el('i', '', inner));
      else if (/^~[^~\\n]+~$/.test(piece)) into.appendChild(el('s', '', inner));
      else if (/^\`[^\`\\n]+\`$/.test(piece)) into.appendChild(el('code', '', inner));
      else if (/^:[a-z0-9_+-]+:$/.test(piece) && EMOJI[inner]) into.appendChild(document.createTextNode(EMOJI[inner]));
      else into.appendChild(document.createTextNode(piece));
    }
  }

  /** Slack mrkdwn: control sequences in <...>, entities decoded in the text between them. */
  function mrkdwn(text, verbatim) {
    const span = el('span');
    for (const part of String(text).split(/(<[^<>]*>)/)) {
      if (part === '') continue;
      if (!/^<[^<>]*>$/.test(part)) { formatted(decode(part), span); continue; }
      const inner = part.slice(1, -1);
      const [target, label] = inner.split('|');
      if (target.startsWith('@')) span.appendChild(el('span', 'mention', '@' + (label || userName(target.slice(1)))));
      else if (target.startsWith('#')) span.appendChild(el('span', 'mention', '#' + (label || channelName(target.slice(1)))));
      else if (target.startsWith('!date^')) {
        const seconds = Number(target.split('^')[1]);
        span.appendChild(document.createTextNode(Number.isFinite(seconds) ? new Date(seconds * 1000).toLocaleString() : decode(label || '')));
      } else if (target.startsWith('!')) {
        const name = target.slice(1).split('^')[0];
        span.appendChild(el('span', 'broadcast', '@' + (label ? decode(label).replace(/^@/, '') : name)));
      } else {
        const link = el('span', 'link', decode(label || target));
        link.title = 'link (not followed here): ' + decode(target);
        span.appendChild(link);
      }
    }
    return span;
  }

  function textObject(obj) {
    if (!obj || typeof obj !== 'object') return el('span', 'unsupported', '[missing text]');
    if (obj.type === 'mrkdwn') return mrkdwn(obj.text || '', obj.verbatim);
    return el('span', 'plain', obj.text || '');
  }

  function button(element, where) {
    const node = el('button', element.style || '', element.text && element.text.text ? element.text.text : element.action_id);
    node.addEventListener('click', () => act(where.channel, where.ts, element.action_id, where.blockId));
    return node;
  }

  function block(b, where, modal) {
    const wrap = el('div', 'block');
    switch (b.type) {
      case 'header': wrap.classList.add('header'); wrap.appendChild(textObject(b.text)); break;
      case 'section': {
        if (b.text) wrap.appendChild(textObject(b.text));
        if (Array.isArray(b.fields)) {
          const grid = el('div', 'fields');
          for (const f of b.fields) grid.appendChild(el('div')).appendChild(textObject(f));
          wrap.appendChild(grid);
        }
        if (b.accessory && b.accessory.type === 'button' && !modal) {
          const acc = el('div', 'accessory');
          acc.appendChild(button(b.accessory, { ...where, blockId: b.block_id }));
          wrap.appendChild(acc);
        }
        break;
      }
      case 'context':
        wrap.classList.add('context');
        for (const e of b.elements || []) wrap.appendChild(e.type === 'image' ? el('span', '', '[image: ' + (e.alt_text || '') + ']') : textObject(e));
        break;
      case 'actions':
        wrap.classList.add('actions');
        for (const e of b.elements || []) {
          if (e.type === 'button' && !modal) wrap.appendChild(button(e, { ...where, blockId: b.block_id }));
          else wrap.appendChild(el('span', 'unsupported', '[' + e.type + ']'));
        }
        break;
      case 'divider': return el('hr');
      case 'image': wrap.appendChild(el('span', '', '[image: ' + (b.alt_text || '') + ']')); break;
      case 'rich_text': {
        const collect = (node) => (node.text || '') + (Array.isArray(node.elements) ? node.elements.map(collect).join('') : '');
        wrap.appendChild(el('span', '', (b.elements || []).map(collect).join('\\n')));
        break;
      }
      case 'input': {
        wrap.appendChild(el('span', 'input-label', (b.label && b.label.text) || '') );
        const e = b.element || {};
        const field = e.multiline ? el('textarea') : el('input');
        if (!e.multiline) field.type = 'text';
        if (e.multiline) field.rows = 4;
        field.dataset.blockId = b.block_id;
        field.dataset.actionId = e.action_id || 'input';
        if (e.placeholder && e.placeholder.text) field.placeholder = e.placeholder.text;
        if (e.initial_value) field.value = e.initial_value;
        if (typeof e.max_length === 'number') field.maxLength = e.max_length;
        wrap.appendChild(field);
        if (b.hint) wrap.appendChild(el('div', 'hint', b.hint.text || ''));
        if (b.optional) wrap.appendChild(el('div', 'hint', '(optional)'));
        wrap.appendChild(el('div', 'error')).dataset.errorFor = b.block_id;
        break;
      }
      default: wrap.appendChild(el('span', 'unsupported', '[unsupported block type: ' + b.type + ']'));
    }
    return wrap;
  }

  function time(ts) {
    return new Date(Number(ts) * 1000).toLocaleTimeString();
  }

  function messageNode(m, channelId) {
    const node = el('div', 'message');
    const meta = el('div', 'meta');
    const bot = Boolean(m.bot_id);
    meta.appendChild(el('span', 'who', bot ? 'Countersign' : userName(m.user)));
    if (bot) meta.appendChild(el('span', 'app', 'APP'));
    meta.appendChild(el('span', '', time(m.ts)));
    if (m.edited) meta.appendChild(el('span', 'edited', '(edited)'));
    node.appendChild(meta);
    const where = { channel: channelId, ts: m.ts };
    if (Array.isArray(m.blocks) && m.blocks.length > 0) for (const b of m.blocks) node.appendChild(block(b, where, false));
    else node.appendChild(el('div', 'block')).appendChild(mrkdwn(m.text || ''));
    return node;
  }

  function ephemeralNode(e) {
    const node = el('div', 'ephemeral' + (e.source === 'slack' ? ' slack' : ''));
    node.appendChild(el('div', 'only-you', (e.source === 'slack' ? 'Slackbot' : 'Countersign') + ' \\u00b7 Only visible to you \\u00b7 ' + time(e.ts)));
    if (Array.isArray(e.blocks) && e.blocks.length > 0) for (const b of e.blocks) node.appendChild(block(b, { channel: e.channel, ts: e.ts }, true));
    else node.appendChild(el('div', 'block')).appendChild(e.source === 'slack' ? el('span', '', e.text) : mrkdwn(e.text || ''));
    return node;
  }

  function renderChannels() {
    const list = $('channels');
    list.replaceChildren();
    for (const c of data.channels) {
      const b = el('button', c.id === channel ? 'active' : '');
      b.appendChild(el('span', '', '# ' + c.name));
      b.appendChild(el('span', 'count', String(c.messages.length)));
      b.addEventListener('click', () => { channel = c.id; store.setItem('countersign.channel', channel); render(); });
      list.appendChild(b);
    }
  }

  function renderMessages() {
    const current = data.channels.find((c) => c.id === channel);
    $('channel-title').textContent = current ? '# ' + current.name : '';
    const box = $('messages');
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    box.replaceChildren();
    if (!current) return;
    const mine = data.ephemerals.filter((e) => e.channel === current.id);
    const timeline = [...current.messages.map((m) => ({ ts: m.ts, m })), ...mine.filter((e) => !e.thread_ts).map((e) => ({ ts: e.ts, e }))];
    timeline.sort((a, b) => Number(a.ts) - Number(b.ts));
    if (timeline.length === 0) box.appendChild(el('div', 'empty', 'No messages in this channel yet.'));
    for (const item of timeline) {
      if (item.e) { box.appendChild(ephemeralNode(item.e)); continue; }
      const node = messageNode(item.m, current.id);
      const replies = item.m.replies || [];
      const threadEphemerals = mine.filter((e) => e.thread_ts === item.m.ts);
      if (replies.length > 0 || threadEphemerals.length > 0) {
        const thread = el('div', 'thread');
        if (replies.length > 0) thread.appendChild(el('div', 'thread-count', replies.length + (replies.length === 1 ? ' reply' : ' replies')));
        const entries = [...replies.map((r) => ({ ts: r.ts, r })), ...threadEphemerals.map((e) => ({ ts: e.ts, e }))].sort((a, b) => Number(a.ts) - Number(b.ts));
        for (const entry of entries) thread.appendChild(entry.r ? messageNode(entry.r, current.id) : ephemeralNode(entry.e));
        node.appendChild(thread);
      }
      box.appendChild(node);
    }
    if (atBottom) box.scrollTop = box.scrollHeight;
  }

  function renderModal() {
    const open = data.modal;
    const key = open ? JSON.stringify([open.view.id, open.view.hash, open.errors || null]) : '';
    if (key === modalKey) return;
    const keep = {};
    for (const field of document.querySelectorAll('#modal [data-block-id]')) keep[field.dataset.blockId + '/' + field.dataset.actionId] = field.value;
    modalKey = key;
    const backdrop = $('modal-backdrop');
    const modal = $('modal');
    modal.replaceChildren();
    if (!open) { backdrop.style.display = 'none'; return; }
    const view = open.view;
    modal.appendChild(el('h2', '', (view.title && view.title.text) || 'Modal'));
    if (open.errors && open.errors['']) modal.appendChild(el('div', 'error', open.errors['']));
    for (const b of view.blocks || []) modal.appendChild(block(b, {}, true));
    for (const field of modal.querySelectorAll('[data-block-id]')) {
      const kept = keep[field.dataset.blockId + '/' + field.dataset.actionId];
      if (kept !== undefined) field.value = kept;
    }
    for (const slot of modal.querySelectorAll('[data-error-for]')) slot.textContent = (open.errors && open.errors[slot.dataset.errorFor]) || '';
    const buttons = el('div', 'modal-buttons');
    const cancel = el('button', '', (view.close && view.close.text) || 'Cancel');
    cancel.addEventListener('click', () => post('/slack/views/close', { user, viewId: view.id }));
    buttons.appendChild(cancel);
    if (view.submit) {
      const submit = el('button', 'submit', view.submit.text || 'Submit');
      submit.addEventListener('click', () => {
        const values = {};
        for (const field of modal.querySelectorAll('[data-block-id]')) {
          values[field.dataset.blockId] = values[field.dataset.blockId] || {};
          values[field.dataset.blockId][field.dataset.actionId] = field.value;
        }
        post('/slack/views/submit', { user, viewId: view.id, values });
      });
      buttons.appendChild(submit);
    }
    modal.appendChild(buttons);
    backdrop.style.display = 'flex';
  }

  function render() {
    if (!data) return;
    $('team').textContent = data.team.name;
    const acting = $('acting');
    if (acting.options.length !== data.users.length) {
      acting.replaceChildren();
      for (const u of data.users) {
        const option = el('option', '', u.name + ' (' + u.id + (u.groups.length ? ', ' + u.groups.join(', ') : '') + ')');
        option.value = u.id;
        acting.appendChild(option);
      }
    }
    acting.value = user;
    $('scale').textContent = data.timeScale > 1 ? 'Workflow time runs ' + data.timeScale + '\\u00d7 faster.' : '';
    renderChannels();
    renderMessages();
    renderModal();
  }

  async function post(path, body) {
    try {
      const response = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const answer = await response.json().catch(() => ({}));
      if (!response.ok) toast(answer.message || ('HTTP ' + response.status));
      else if (answer.problem) toast(answer.problem);
    } catch (error) {
      toast(String(error));
    }
    await refresh();
  }

  function act(channelId, ts, actionId, blockId) {
    return post('/slack/act', { user, channel: channelId, ts, actionId, blockId });
  }

  async function refresh() {
    try {
      const response = await fetch('/slack/state?user=' + encodeURIComponent(user));
      const json = await response.text();
      if (json === lastJson) return;
      lastJson = json;
      data = JSON.parse(json);
      if (!data.users.some((u) => u.id === user)) {
        user = data.users[0].id;
        store.setItem('countersign.user', user);
        lastJson = '';
        return refresh();
      }
      if (!data.channels.some((c) => c.id === channel)) channel = data.channels[0] ? data.channels[0].id : '';
      render();
    } catch (error) {
      $('channel-title').textContent = 'The local stack is not answering (' + String(error) + ')';
    }
  }

  $('acting').addEventListener('change', (event) => {
    user = event.target.value;
    store.setItem('countersign.user', user);
    // Forces the modal area to redraw for the new member (theirs, or none).
    modalKey = 'switched';
    lastJson = '';
    refresh();
  });
  refresh();
  setInterval(refresh, 1000);
})();
</script>
</body>
</html>
`;
}
