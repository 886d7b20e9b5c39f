/**
 * The workspace page (`GET /slack`): a small Slack client for the emulated workspace. A header with
 * the workspace and a link to the audit page; a sidebar with the "act as" switch (who the member is,
 * their groups, the agents they own) and the channels with unread badges; message rows with avatar,
 * name, APP tag and time; Block Kit rendered the way Slack lays it out; "(edited)" and a short
 * highlight when a message changes; threads folded into "N replies"; ephemeral messages ("Only
 * visible to you", dismissable); modals with Slack's required-field check and the app's errors.
 * Plain HTML and one inline script that polls `/slack/state`.
 *
 * Every piece of text is put in the page as text (`textContent`), never as HTML: what an agent
 * wrote can only ever be shown, not run. Slack's mrkdwn is interpreted the way Slack does (mentions,
 * links, dates, *bold*), but a link is shown, not followed, and a broadcast mention (`<!channel>`)
 * is shown as the alarming chip it would be in Slack. A Content-Security-Policy with a per-response
 * nonce backs this up: no other script can run on the page.
 *
 * Stable hooks for tests: `#acting` (a select of Slack user ids), `#channels button[data-channel]`
 * (channel names), `.message[data-ts]` with `data-action-id` on review messages, `.ephemeral`,
 * `#modal`, `#audit-link`.
 */

export function slackPageHtml(options: { nonce: string; teamName: string }): string {
  const { nonce } = options;
  const team = options.teamName.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${team}</title>
<style nonce="${nonce}">
  :root {
    --top: #350d36; --side: #3f0e40; --side-text: #cfc3cf; --side-muted: #a893a8; --active: #1164a3;
    --accent: #1264a3; --border: #e2e2e2; --muted: #616061; --text: #1d1c1d; --hover: #f8f8f8;
    --green: #007a5a; --red: #e01e5a; --badge: #cd2553;
  }
  * { box-sizing: border-box; }
  html, body { height: 100%; }
  body { margin: 0; font: 15px/1.46 -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue", Helvetica, Arial, sans-serif; color: var(--text); display: flex; flex-direction: column; overflow: hidden; }
  button { font: inherit; }

  /* Workspace header */
  #topbar { height: 44px; flex-shrink: 0; background: var(--top); color: #fff; display: flex; align-items: center; gap: 12px; padding: 0 16px; border-bottom: 1px solid rgba(255,255,255,.1); }
  #topbar .logo { width: 26px; height: 26px; border-radius: 6px; background: #fff; color: var(--top); font-weight: 800; font-size: 12px; display: flex; align-items: center; justify-content: center; }
  #team { font-weight: 800; font-size: 15px; white-space: nowrap; }
  #topbar .local { font-size: 11px; text-transform: uppercase; letter-spacing: .06em; border: 1px solid rgba(255,255,255,.35); border-radius: 4px; padding: 0 5px; color: #e9dce9; }
  #topbar .spacer { flex: 1; }
  #audit-link { color: #fff; text-decoration: none; font-weight: 700; font-size: 14px; padding: 3px 10px; border-radius: 6px; border: 1px solid rgba(255,255,255,.35); }
  #audit-link:hover { background: rgba(255,255,255,.14); }
  #me { display: flex; align-items: center; gap: 8px; font-size: 13px; color: #e9dce9; white-space: nowrap; }

  #app { flex: 1; display: flex; min-height: 0; }

  /* Sidebar */
  #side { width: 272px; background: var(--side); color: var(--side-text); overflow-y: auto; flex-shrink: 0; padding-bottom: 16px; }
  #side .section-title { font-size: 13px; color: var(--side-muted); margin: 16px 16px 6px; display: flex; align-items: center; gap: 6px; }
  #side .section-title::before { content: "\\25be"; font-size: 11px; }
  #acting { margin: 0 16px; width: calc(100% - 32px); padding: 5px 6px; border-radius: 6px; border: 1px solid rgba(255,255,255,.3); background: #fff; color: var(--text); font-size: 13px; }
  #acting-info { margin: 8px 16px 0; padding: 10px; border-radius: 8px; background: rgba(255,255,255,.08); display: flex; gap: 10px; align-items: flex-start; }
  #acting-info .who { color: #fff; font-weight: 700; }
  #acting-info .handle { color: var(--side-muted); font-weight: 400; margin-left: 4px; font-size: 13px; }
  #acting-info .chips { margin-top: 4px; display: flex; flex-wrap: wrap; gap: 4px; }
  #acting-info .chip { font-size: 12px; background: rgba(255,255,255,.16); color: #fff; border-radius: 10px; padding: 0 8px; }
  #acting-info .owns { font-size: 12px; margin-top: 6px; color: var(--side-text); }
  #acting-info .owns.agent { color: #ffd37a; }
  #channels { padding: 0 8px; }
  #channels button { display: flex; align-items: center; gap: 6px; width: 100%; text-align: left; background: none; border: 0; color: var(--side-text); padding: 4px 10px; border-radius: 6px; cursor: pointer; font-size: 15px; height: 30px; }
  #channels button:hover { background: rgba(255,255,255,.08); }
  #channels button .hash { opacity: .7; width: 14px; }
  #channels button .name { flex: 1; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
  #channels button.unread { color: #fff; font-weight: 800; }
  #channels button.active { background: var(--active); color: #fff; font-weight: 400; }
  #channels .badge { background: var(--badge); color: #fff; border-radius: 9px; font-size: 12px; font-weight: 700; min-width: 18px; height: 18px; padding: 0 6px; display: inline-flex; align-items: center; justify-content: center; }
  #scale { font-size: 12px; margin: 16px; color: var(--side-muted); }

  /* Channel */
  main { flex: 1; display: flex; flex-direction: column; min-width: 0; background: #fff; }
  #channel-head { padding: 10px 20px; border-bottom: 1px solid var(--border); min-height: 58px; }
  #channel-title { font-weight: 900; font-size: 18px; }
  #channel-topic { font-size: 13px; color: var(--muted); }
  #offline { display: none; background: #fff4e5; color: #7a4b00; padding: 6px 20px; font-size: 13px; border-bottom: 1px solid #f2d8a7; }
  #messages { flex: 1; overflow-y: auto; padding: 8px 0 24px; }
  /* A day's messages under a line with its date pill on it. The pill stays on its line (not sticky):
     a pill floating over the channel would cover the text scrolling beneath it. */
  .day-group { border-top: 1px solid var(--border); margin-top: 24px; }
  .day { height: 26px; margin-top: -13px; display: flex; justify-content: center; pointer-events: none; }
  .day span { font-size: 13px; font-weight: 700; border: 1px solid var(--border); border-radius: 12px; padding: 1px 14px; background: #fff; height: 26px; box-shadow: 0 1px 2px rgba(0,0,0,.04); }
  .message { display: flex; gap: 8px; padding: 8px 20px; scroll-margin-top: 8px; }
  .message:hover { background: var(--hover); }
  .message.changed { animation: changed 4s ease-out; }
  @keyframes changed { from { background: #fff1c2; } to { background: transparent; } }
  .avatar { width: 36px; height: 36px; border-radius: 6px; flex-shrink: 0; color: #fff; font-weight: 700; font-size: 14px; display: flex; align-items: center; justify-content: center; letter-spacing: .02em; }
  .avatar.small { width: 20px; height: 20px; font-size: 9px; border-radius: 4px; }
  .avatar.tiny { width: 24px; height: 24px; font-size: 10px; border-radius: 4px; }
  .body { flex: 1; min-width: 0; }
  .meta { display: flex; align-items: baseline; gap: 6px; }
  .meta .who { font-weight: 900; }
  .meta .app { font-size: 10px; font-weight: 700; color: var(--muted); background: rgba(29,28,29,.08); border-radius: 2px; padding: 1px 3px; }
  .meta .time { font-size: 12px; color: var(--muted); }
  .edited { font-size: 12px; color: var(--muted); }
  .blocks { max-width: 640px; }
  .block { margin: 4px 0; white-space: pre-wrap; overflow-wrap: anywhere; }
  .header { font-size: 18px; font-weight: 900; margin: 6px 0 8px; }
  .fields { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 2px 16px; margin: 6px 0; }
  .context { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 8px; font-size: 12px; color: var(--muted); }
  hr.divider { border: 0; border-top: 1px solid var(--border); margin: 10px 0; }
  .actions { display: flex; flex-wrap: wrap; gap: 8px; margin: 10px 0 6px; }
  .accessory { margin-top: 6px; }
  .actions button, .accessory button { border: 1px solid rgba(29,28,29,.3); background: #fff; color: var(--text); border-radius: 4px; padding: 0 12px; height: 32px; font-size: 14px; font-weight: 700; cursor: pointer; }
  .actions button:hover, .accessory button:hover { box-shadow: 0 1px 3px rgba(0,0,0,.15); }
  .actions button.primary { background: var(--green); color: #fff; border-color: var(--green); }
  .actions button.danger { background: var(--red); color: #fff; border-color: var(--red); }
  .actions button.busy { opacity: .6; cursor: progress; }
  .mention { background: rgba(29,155,209,.1); color: var(--accent); border-radius: 3px; padding: 0 2px; }
  .broadcast { background: rgba(242,199,68,.4); color: #1d1c1d; border-radius: 3px; padding: 0 2px; font-weight: 700; }
  .link { color: var(--accent); text-decoration: underline dotted; cursor: help; }
  pre.preformatted { font: 12px/1.5 Monaco, Menlo, Consolas, "Courier New", monospace; background: #f8f8f8; border: 1px solid #e2e2e2; border-radius: 4px; padding: 8px; margin: 4px 0; white-space: pre-wrap; overflow-wrap: anywhere; }
  code { background: #f6f6f6; color: #e01e5a; border: 1px solid #e8e8e8; border-radius: 3px; padding: 0 3px; font-size: 12px; }
  .unsupported { color: #a00; font-size: 13px; }

  /* Threads */
  .thread-summary { display: flex; align-items: center; gap: 6px; margin-top: 4px; padding: 4px 6px 4px 4px; border-radius: 6px; border: 1px solid transparent; max-width: 520px; cursor: pointer; background: none; text-align: left; width: 100%; }
  .thread-summary:hover { background: #fff; border-color: var(--border); }
  .thread-count { font-size: 13px; color: var(--accent); font-weight: 700; }
  .thread-last { font-size: 13px; color: var(--muted); }
  .thread { margin: 6px 0 0; border-left: 2px solid var(--border); }
  .thread.collapsed { display: none; }
  .thread .message { padding: 6px 12px; }
  .thread .avatar { width: 28px; height: 28px; font-size: 11px; }

  /* Ephemeral messages */
  .ephemeral { background: #f4f8fb; }
  .ephemeral:hover { background: #edf3f8; }
  .ephemeral.slack .avatar { background: #4a154b; }
  .only-you { font-size: 12px; color: var(--muted); margin-bottom: 2px; }
  .dismiss { background: none; border: 0; padding: 0; margin-top: 4px; font-size: 13px; color: var(--accent); cursor: pointer; }
  .dismiss:hover { text-decoration: underline; }

  .composer { margin: 0 20px 14px; border: 1px solid #c8c8c8; border-radius: 8px; padding: 7px 12px; color: #8d8d8d; font-size: 14px; background: #fcfcfc; display: flex; gap: 12px; align-items: baseline; }
  .composer .note { font-size: 12px; margin-left: auto; }
  /* Slack draws emoji as images; these are drawn here so they look the same without an emoji font. */
  .emoji { display: inline-flex; align-items: center; justify-content: center; width: 18px; height: 18px; border-radius: 4px; font-size: 12px; font-weight: 700; line-height: 1; vertical-align: text-bottom; margin: 0 2px; color: #fff; }
  .emoji-check { background: #2eb67d; }
  .emoji-cross { background: #e01e5a; }
  .emoji-no-entry { background: #e01e2d; border-radius: 50%; }
  .emoji-no-entry::after { content: ""; width: 10px; height: 3px; background: #fff; border-radius: 1px; }
  .emoji-siren { background: #e01e2d; border-radius: 50% 50% 3px 3px; }
  .emoji-hourglass { flex-direction: column; width: 14px; }
  .emoji-hourglass::before { content: ""; border: 6px solid transparent; border-top: 7px solid #c98a00; border-bottom: 0; }
  .emoji-hourglass::after { content: ""; border: 6px solid transparent; border-bottom: 7px solid #c98a00; border-top: 0; }
  .emoji-warning { color: #e8a000; font-size: 16px; width: auto; }
  .emoji-plain { color: inherit; width: auto; font-weight: 400; font-size: 15px; }
  .empty { color: var(--muted); padding: 32px 20px; }

  /* Modals */
  #modal-backdrop { position: fixed; inset: 0; background: rgba(0,0,0,.45); display: none; align-items: center; justify-content: center; z-index: 10; }
  #modal { background: #fff; width: 540px; max-height: 88vh; display: flex; flex-direction: column; border-radius: 8px; box-shadow: 0 18px 48px rgba(0,0,0,.35); }
  .modal-head { display: flex; align-items: center; justify-content: space-between; padding: 18px 24px 14px; border-bottom: 1px solid var(--border); }
  .modal-head h2 { margin: 0; font-size: 22px; font-weight: 900; }
  .modal-x { background: none; border: 0; font-size: 22px; line-height: 1; color: var(--muted); cursor: pointer; padding: 4px 8px; border-radius: 4px; }
  .modal-x:hover { background: #f0f0f0; }
  .modal-body { padding: 16px 24px; overflow-y: auto; }
  #modal textarea, #modal input[type=text] { width: 100%; font: inherit; padding: 8px 10px; border: 1px solid #bbb; border-radius: 4px; margin-top: 6px; }
  #modal textarea:focus, #modal input[type=text]:focus { outline: none; border-color: var(--accent); box-shadow: 0 0 0 3px rgba(29,155,209,.3); }
  #modal .invalid textarea, #modal .invalid input[type=text] { border-color: var(--red); box-shadow: 0 0 0 1px var(--red); }
  #modal .input-label { font-weight: 700; margin-top: 12px; display: block; }
  #modal .optional { font-weight: 400; color: var(--muted); }
  #modal .hint { font-size: 13px; color: var(--muted); margin-top: 4px; }
  .error { color: var(--red); font-size: 13px; margin-top: 4px; }
  .error:empty { display: none; }
  .error::before { content: "\\26a0  "; }
  .modal-error { background: #fdecf1; border-radius: 4px; padding: 6px 10px; }
  .modal-buttons { display: flex; justify-content: flex-end; gap: 8px; padding: 14px 24px 18px; border-top: 1px solid var(--border); }
  .modal-buttons button { border: 1px solid rgba(29,28,29,.3); background: #fff; border-radius: 4px; padding: 0 14px; height: 36px; font-weight: 700; cursor: pointer; }
  .modal-buttons button.submit { background: var(--green); color: #fff; border-color: var(--green); }

  #toast { position: fixed; bottom: 20px; left: 50%; transform: translateX(-50%); background: #1d1c1d; color: #fff; padding: 10px 16px; border-radius: 8px; display: none; max-width: 560px; box-shadow: 0 4px 12px rgba(0,0,0,.3); font-size: 14px; z-index: 20; }
</style>
</head>
<body>
<header id="topbar">
  <div class="logo" aria-hidden="true">CS</div>
  <div id="team">${team}</div>
  <span class="local" title="a Slack workspace emulated by the local stack">local</span>
  <div class="spacer"></div>
  <a id="audit-link" href="/audit">Audit</a>
  <div id="me"></div>
</header>
<div id="app">
<nav id="side" aria-label="Workspace">
  <div class="section-title"><label for="acting">Act as</label></div>
  <select id="acting"></select>
  <div id="acting-info"></div>
  <div class="section-title">Channels</div>
  <div id="channels"></div>
  <div id="scale"></div>
</nav>
<main>
  <div id="channel-head"><div id="channel-title"></div><div id="channel-topic"></div></div>
  <div id="offline" role="alert"></div>
  <div id="messages" aria-live="polite"></div>
  <div class="composer" id="composer"></div>
</main>
</div>
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
  const readJson = (key, fallback) => { try { return JSON.parse(store.getItem(key) || '') || fallback; } catch (error) { return fallback; } };
  let data = null;
  let lastJson = '';
  let modalKey = '';
  let user = store.getItem('countersign.user') || '';
  let channel = store.getItem('countersign.channel') || '';
  /** The newest ts each channel was seen at, for the unread badges. */
  const seen = readJson('countersign.seen', {});
  /** Ephemeral messages this browser dismissed, as "user/ts". */
  const dismissed = new Set(readJson('countersign.dismissed', []));
  /** Threads opened, as "channel/ts". */
  const expanded = new Set();
  /** What each message looked like, to highlight one that changes; when it last changed. */
  const shapes = new Map();
  const changedAt = new Map();
  let forceBottom = true;
  let lastEphemeral = '';

  const EMOJI = {
    white_check_mark: ['check', '\\u2714'], heavy_check_mark: ['check', '\\u2714'], x: ['cross', '\\u2716'], no_entry: ['no-entry', ''],
    rotating_light: ['siren', '!'], warning: ['warning', '\\u26a0'], hourglass: ['hourglass', ''], lock: ['plain', '\\ud83d\\udd12'],
    bell: ['plain', '\\ud83d\\udd14'], eyes: ['plain', '\\ud83d\\udc40'], tada: ['plain', '\\ud83c\\udf89'],
  };
  const COLORS = ['#e8912d', '#2bac76', '#1d9bd1', '#de4e2b', '#9f69a4', '#4d5c6b', '#cd2553', '#3aa3e3', '#e06b56', '#508a3c'];
  const APP = { name: 'Countersign', initials: 'CS', color: '#0b4c8c' };
  const SLACKBOT = { name: 'Slackbot', initials: 'SB', color: '#4a154b' };

  function toast(text) {
    const node = $('toast');
    node.textContent = text;
    node.style.display = 'block';
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { node.style.display = 'none'; }, 6000);
  }

  function findUser(id) {
    return data ? data.users.find((u) => u.id === id) : undefined;
  }

  function userName(id) {
    const found = findUser(id);
    return found ? found.name : id;
  }

  function channelName(id) {
    const found = data && data.channels.find((c) => c.id === id);
    return found ? found.name : id;
  }

  function initials(name) {
    const words = String(name).split(/[^A-Za-z0-9]+/).filter(Boolean);
    const letters = words.length > 1 ? words[0][0] + words[1][0] : String(name).slice(0, 1);
    return letters.toUpperCase();
  }

  function colorOf(name) {
    let hash = 0;
    for (const ch of String(name)) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
    return COLORS[hash % COLORS.length];
  }

  function avatar(who, size) {
    const node = el('div', 'avatar' + (size ? ' ' + size : ''), who.initials);
    node.style.background = who.color;
    node.setAttribute('aria-hidden', 'true');
    return node;
  }

  function person(id) {
    const name = userName(id);
    return { name, initials: initials(name), color: colorOf(name) };
  }

  /** Orders Slack timestamps ("seconds.micros") as text. */
  function tsKey(ts) {
    const [seconds, micros] = String(ts).split('.');
    return (seconds || '').padStart(12, '0') + '.' + (micros || '').padEnd(6, '0');
  }

  function decode(text) {
    return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
  }

  const sameDay = (a, b) => a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();

  function prettyDay(date, long) {
    const today = new Date();
    const yesterday = new Date(today.getTime() - 86400000);
    const tomorrow = new Date(today.getTime() + 86400000);
    if (sameDay(date, today)) return 'Today';
    if (sameDay(date, yesterday)) return 'Yesterday';
    if (sameDay(date, tomorrow)) return 'Tomorrow';
    return date.toLocaleDateString([], long ? { weekday: 'long', month: 'long', day: 'numeric', year: 'numeric' } : { month: 'short', day: 'numeric', year: 'numeric' });
  }

  function clock(date, seconds) {
    return date.toLocaleTimeString([], seconds ? { hour: 'numeric', minute: '2-digit', second: '2-digit' } : { hour: 'numeric', minute: '2-digit' });
  }

  /** \`<!date^seconds^format|fallback>\`: Slack's tokens, in the reader's time zone. */
  function slackDate(seconds, format, fallback) {
    if (!Number.isFinite(seconds)) return fallback;
    const date = new Date(seconds * 1000);
    const tokens = {
      date_num: date.toISOString().slice(0, 10),
      date: date.toLocaleDateString([], { month: 'long', day: 'numeric', year: 'numeric' }),
      date_short: date.toLocaleDateString([], { month: 'short', day: 'numeric', year: 'numeric' }),
      date_long: date.toLocaleDateString([], { weekday: 'long', month: 'long', day: 'numeric', year: 'numeric' }),
      date_pretty: prettyDay(date, false),
      date_short_pretty: prettyDay(date, false),
      date_long_pretty: prettyDay(date, true),
      time: clock(date, false),
      time_secs: clock(date, true),
    };
    if (!format) return date.toLocaleString();
    return format.replace(/\\{([a-z_]+)\\}/g, (whole, name) => (Object.hasOwn(tokens, name) ? tokens[name] : whole));
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
      else if (/^:[a-z0-9_+-]+:$/.test(piece) && Object.hasOwn(EMOJI, inner)) {
        const emoji = into.appendChild(el('span', 'emoji emoji-' + EMOJI[inner][0], EMOJI[inner][1]));
        emoji.title = piece;
        emoji.setAttribute('aria-label', piece);
      }
      else into.appendChild(document.createTextNode(piece));
    }
  }

  /** Slack mrkdwn: control sequences in <...>, entities decoded in the text between them. */
  function mrkdwn(text) {
    const span = el('span');
    for (const part of String(text).split(/(<[^<>]*>)/)) {
      if (part === '') continue;
      if (!/^<[^<>]*>$/.test(part)) { formatted(decode(part), span); continue; }
      const inner = part.slice(1, -1);
      const bar = inner.indexOf('|');
      const target = bar < 0 ? inner : inner.slice(0, bar);
      const label = bar < 0 ? '' : inner.slice(bar + 1);
      if (target.startsWith('@')) span.appendChild(el('span', 'mention', '@' + (label || userName(target.slice(1)))));
      else if (target.startsWith('#')) span.appendChild(el('span', 'mention', '#' + (label || channelName(target.slice(1)))));
      else if (target.startsWith('!date^')) {
        const [, seconds, format] = target.split('^');
        span.appendChild(document.createTextNode(slackDate(Number(seconds), format, decode(label))));
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
    if (obj.type === 'mrkdwn') return mrkdwn(obj.text || '');
    return el('span', 'plain', obj.text || '');
  }

  function button(element, where) {
    const node = el('button', element.style || '', element.text && element.text.text ? element.text.text : element.action_id);
    node.type = 'button';
    node.dataset.actionId = element.action_id || '';
    node.addEventListener('click', () => {
      if (node.disabled) return;
      node.disabled = true;
      node.classList.add('busy');
      act(where.channel, where.ts, element.action_id, where.blockId);
    });
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
      case 'divider': return el('hr', 'divider');
      case 'image': wrap.appendChild(el('span', '', '[image: ' + (b.alt_text || '') + ']')); break;
      case 'rich_text': {
        // Text elements are literal; a preformatted element is Slack's monospaced code block.
        const collect = (node) => (node.text || '') + (Array.isArray(node.elements) ? node.elements.map(collect).join('') : '');
        for (const e of b.elements || []) wrap.appendChild(el(e.type === 'rich_text_preformatted' ? 'pre' : 'div', e.type === 'rich_text_preformatted' ? 'preformatted' : '', collect(e)));
        break;
      }
      case 'input': {
        const labelNode = el('span', 'input-label', (b.label && b.label.text) || '');
        if (b.optional) labelNode.appendChild(el('span', 'optional', ' (optional)'));
        wrap.appendChild(labelNode);
        const e = b.element || {};
        const field = e.multiline ? el('textarea') : el('input');
        if (!e.multiline) field.type = 'text';
        if (e.multiline) field.rows = 4;
        field.dataset.blockId = b.block_id;
        field.dataset.actionId = e.action_id || 'input';
        if (!b.optional) field.dataset.required = 'true';
        if (e.placeholder && e.placeholder.text) field.placeholder = e.placeholder.text;
        if (e.initial_value) field.value = e.initial_value;
        if (typeof e.max_length === 'number') field.maxLength = e.max_length;
        wrap.appendChild(field);
        wrap.appendChild(el('div', 'error')).dataset.errorFor = b.block_id;
        if (b.hint) wrap.appendChild(el('div', 'hint', b.hint.text || ''));
        wrap.dataset.inputFor = b.block_id;
        break;
      }
      default: wrap.appendChild(el('span', 'unsupported', '[unsupported block type: ' + b.type + ']'));
    }
    return wrap;
  }

  /** The action a review message is about: its last context line reads "Action <id> · review <id>". */
  function actionIdOf(m) {
    for (const b of Array.isArray(m.blocks) ? m.blocks : []) {
      if (!b || b.type !== 'context') continue;
      for (const e of b.elements || []) {
        const found = /^Action ([A-Za-z0-9._:-]{1,128}) \\u00b7 review /.exec((e && e.text) || '');
        if (found) return found[1];
      }
    }
    return '';
  }

  function timeNode(ts) {
    const date = new Date(Number(ts) * 1000);
    const node = el('span', 'time', clock(date, false));
    node.title = date.toLocaleString();
    return node;
  }

  function senderOf(m) {
    return m.bot_id ? APP : person(m.user);
  }

  function contentNode(m, where, inModal) {
    const box = el('div', 'blocks');
    if (Array.isArray(m.blocks) && m.blocks.length > 0) for (const b of m.blocks) box.appendChild(block(b, where, inModal));
    else box.appendChild(el('div', 'block')).appendChild(mrkdwn(m.text || ''));
    return box;
  }

  function messageNode(m, channelId, small) {
    const key = channelId + '/' + m.ts;
    const shape = JSON.stringify([m.text, m.blocks || null, m.edited || null]);
    const before = shapes.get(key);
    if (before !== undefined && before !== shape) changedAt.set(key, Date.now());
    shapes.set(key, shape);
    const since = changedAt.has(key) ? Date.now() - changedAt.get(key) : Infinity;
    const node = el('div', 'message' + (since < 4000 ? ' changed' : ''));
    if (since < 4000) node.style.animationDelay = '-' + since + 'ms';
    node.dataset.ts = m.ts;
    const actionId = actionIdOf(m);
    if (actionId) node.dataset.actionId = actionId;
    const sender = senderOf(m);
    node.appendChild(avatar(sender, small ? 'tiny' : ''));
    const body = el('div', 'body');
    const meta = el('div', 'meta');
    meta.appendChild(el('span', 'who', sender.name));
    if (m.bot_id) meta.appendChild(el('span', 'app', 'APP'));
    meta.appendChild(timeNode(m.ts));
    if (m.edited) meta.appendChild(el('span', 'edited', '(edited)'));
    body.appendChild(meta);
    body.appendChild(contentNode(m, { channel: channelId, ts: m.ts }, false));
    node.appendChild(body);
    return { node, body };
  }

  function ephemeralNode(e) {
    const sender = e.source === 'slack' ? SLACKBOT : APP;
    const node = el('div', 'message ephemeral' + (e.source === 'slack' ? ' slack' : ''));
    node.dataset.ts = e.ts;
    node.appendChild(avatar(sender, ''));
    const body = el('div', 'body');
    body.appendChild(el('div', 'only-you', 'Only visible to you'));
    const meta = el('div', 'meta');
    meta.appendChild(el('span', 'who', sender.name));
    if (e.source !== 'slack') meta.appendChild(el('span', 'app', 'APP'));
    meta.appendChild(timeNode(e.ts));
    body.appendChild(meta);
    if (Array.isArray(e.blocks) && e.blocks.length > 0) body.appendChild(contentNode(e, { channel: e.channel, ts: e.ts }, true));
    else body.appendChild(el('div', 'block')).appendChild(e.source === 'slack' ? el('span', '', e.text) : mrkdwn(e.text || ''));
    const dismiss = el('button', 'dismiss', 'Dismiss message');
    dismiss.type = 'button';
    dismiss.addEventListener('click', () => {
      dismissed.add(user + '/' + e.ts);
      store.setItem('countersign.dismissed', JSON.stringify([...dismissed].slice(-200)));
      renderMessages();
    });
    body.appendChild(dismiss);
    node.appendChild(body);
    return node;
  }

  function myEphemerals() {
    return data.ephemerals.filter((e) => !dismissed.has(user + '/' + e.ts));
  }

  /** Top-level messages and replies newer than what was seen of the channel. */
  function unread(c) {
    const since = seen[c.id] || '';
    let count = 0;
    for (const m of c.messages) {
      if (tsKey(m.ts) > since) count++;
      for (const r of m.replies || []) if (tsKey(r.ts) > since) count++;
    }
    return count;
  }

  function newest(c) {
    let latest = '';
    for (const m of c.messages) {
      if (tsKey(m.ts) > latest) latest = tsKey(m.ts);
      for (const r of m.replies || []) if (tsKey(r.ts) > latest) latest = tsKey(r.ts);
    }
    return latest;
  }

  function selectChannel(id) {
    channel = id;
    store.setItem('countersign.channel', channel);
    forceBottom = true;
    render();
  }

  function renderChannels() {
    const list = $('channels');
    list.replaceChildren();
    for (const c of data.channels) {
      if (c.id === channel) {
        const latest = newest(c);
        if (latest && latest !== seen[c.id]) { seen[c.id] = latest; store.setItem('countersign.seen', JSON.stringify(seen)); }
      }
      // Slack counts unread messages only in channels the member is in.
      const member = (c.members || []).includes(user);
      const count = c.id === channel || !member ? 0 : unread(c);
      const b = el('button', (c.id === channel ? 'active' : '') + (count > 0 ? ' unread' : ''));
      b.type = 'button';
      b.dataset.channel = c.name;
      b.dataset.channelId = c.id;
      b.appendChild(el('span', 'hash', '#'));
      b.appendChild(el('span', 'name', c.name));
      if (count > 0) b.appendChild(el('span', 'badge', String(count)));
      b.addEventListener('click', () => selectChannel(c.id));
      list.appendChild(b);
    }
  }

  function threadNode(m, current, threadEphemerals) {
    const replies = m.replies || [];
    const key = current.id + '/' + m.ts;
    const open = expanded.has(key) || threadEphemerals.length > 0;
    const wrap = el('div', 'thread-wrap');
    if (replies.length > 0) {
      const summary = el('button', 'thread-summary');
      summary.type = 'button';
      const people = [...new Set(replies.map((r) => (r.bot_id ? 'app' : r.user)))].slice(0, 4);
      for (const who of people) summary.appendChild(avatar(who === 'app' ? APP : person(who), 'small'));
      summary.appendChild(el('span', 'thread-count', replies.length + (replies.length === 1 ? ' reply' : ' replies')));
      const last = replies[replies.length - 1];
      summary.appendChild(el('span', 'thread-last', open ? 'Hide thread' : 'Last reply ' + clock(new Date(Number(last.ts) * 1000), false)));
      summary.addEventListener('click', () => {
        if (expanded.has(key)) expanded.delete(key); else expanded.add(key);
        renderMessages();
      });
      wrap.appendChild(summary);
    }
    const thread = el('div', 'thread' + (open ? '' : ' collapsed'));
    const entries = [...replies.map((r) => ({ ts: r.ts, r })), ...threadEphemerals.map((e) => ({ ts: e.ts, e }))].sort((a, b) => (tsKey(a.ts) < tsKey(b.ts) ? -1 : 1));
    for (const entry of entries) thread.appendChild(entry.r ? messageNode(entry.r, current.id, true).node : ephemeralNode(entry.e));
    wrap.appendChild(thread);
    return wrap;
  }

  function renderHead(current) {
    $('channel-title').textContent = current ? '# ' + current.name : '';
    const topic = $('channel-topic');
    const composer = $('composer');
    composer.replaceChildren();
    if (!current) { topic.textContent = ''; return; }
    const members = (current.members || []).map(userName);
    topic.textContent = (current.purpose || '') + (members.length ? ' \\u00b7 ' + members.length + (members.length === 1 ? ' member: ' : ' members: ') + members.join(', ') : '');
    composer.appendChild(el('div', '', 'Message #' + current.name));
    composer.appendChild(el('div', 'note', 'Read-only here: Countersign posts the reviews; members answer with the buttons.'));
  }

  function renderMessages() {
    const current = data.channels.find((c) => c.id === channel);
    renderHead(current);
    const box = $('messages');
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 60;
    const keepTop = box.scrollTop;
    box.replaceChildren();
    if (!current) return;
    const mine = myEphemerals().filter((e) => e.channel === current.id);
    const timeline = [...current.messages.map((m) => ({ ts: m.ts, m })), ...mine.filter((e) => !e.thread_ts).map((e) => ({ ts: e.ts, e }))];
    timeline.sort((a, b) => (tsKey(a.ts) < tsKey(b.ts) ? -1 : 1));
    if (timeline.length === 0) box.appendChild(el('div', 'empty', 'No messages in #' + current.name + ' yet. Reviews the policies route to ' + (current.group || 'this group') + ' appear here.'));
    let day = '';
    let group = box;
    for (const item of timeline) {
      const date = new Date(Number(item.ts) * 1000);
      const label = prettyDay(date, true);
      if (label !== day) {
        day = label;
        group = box.appendChild(el('section', 'day-group'));
        group.appendChild(el('div', 'day')).appendChild(el('span', '', label));
      }
      if (item.e) { group.appendChild(ephemeralNode(item.e)); continue; }
      const { node, body } = messageNode(item.m, current.id, false);
      const threadEphemerals = mine.filter((e) => e.thread_ts === item.m.ts);
      if ((item.m.replies || []).length > 0 || threadEphemerals.length > 0) body.appendChild(threadNode(item.m, current, threadEphemerals));
      group.appendChild(node);
    }
    // A new notice for this member is shown the way Slack shows it: scrolled into view.
    const newestMine = mine.length ? current.id + '/' + mine[mine.length - 1].ts : '';
    const fresh = newestMine !== '' && newestMine !== lastEphemeral;
    lastEphemeral = newestMine;
    if (atBottom || forceBottom || fresh) box.scrollTop = box.scrollHeight;
    else box.scrollTop = keepTop;
    forceBottom = false;
  }

  function renderActing() {
    const acting = $('acting');
    if (acting.options.length !== data.users.length) {
      acting.replaceChildren();
      for (const u of data.users) {
        const owner = (u.owns || []).length ? ' \\u00b7 agent owner' : '';
        const option = el('option', '', u.name + ' \\u00b7 ' + (u.groups.length ? u.groups.join(', ') : 'no group') + owner);
        option.value = u.id;
        option.dataset.member = u.name;
        acting.appendChild(option);
      }
    }
    acting.value = user;
    const me = findUser(user);
    const info = $('acting-info');
    const top = $('me');
    info.replaceChildren();
    top.replaceChildren();
    if (!me) return;
    const face = { name: me.name, initials: initials(me.name), color: colorOf(me.name) };
    info.appendChild(avatar(face, ''));
    const text = el('div');
    const name = el('div', 'who', me.realName || me.name);
    name.appendChild(el('span', 'handle', '@' + me.name));
    text.appendChild(name);
    const chips = el('div', 'chips');
    for (const group of me.groups) chips.appendChild(el('span', 'chip', group));
    if (me.groups.length === 0) chips.appendChild(el('span', 'chip', 'in no approver group'));
    text.appendChild(chips);
    const owns = me.owns || [];
    text.appendChild(el('div', 'owns' + (owns.length ? ' agent' : ''), owns.length ? 'Owns ' + owns.join(', ') + ': cannot approve ' + (owns.length === 1 ? 'its' : 'their') + ' requests' : 'Owns no agent'));
    info.appendChild(text);
    top.appendChild(el('span', '', 'Acting as'));
    top.appendChild(avatar(face, 'tiny'));
    top.appendChild(el('b', '', me.name));
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
    const close = () => post('/slack/views/close', { user, viewId: view.id });
    const head = el('div', 'modal-head');
    head.appendChild(el('h2', '', (view.title && view.title.text) || 'Modal'));
    const x = el('button', 'modal-x', '\\u00d7');
    x.type = 'button';
    x.title = 'Close';
    x.addEventListener('click', close);
    head.appendChild(x);
    modal.appendChild(head);
    const body = el('div', 'modal-body');
    if (open.errors && open.errors['']) body.appendChild(el('div', 'error modal-error', open.errors['']));
    for (const b of view.blocks || []) body.appendChild(block(b, {}, true));
    modal.appendChild(body);
    for (const field of modal.querySelectorAll('[data-block-id]')) {
      const kept = keep[field.dataset.blockId + '/' + field.dataset.actionId];
      if (kept !== undefined) field.value = kept;
    }
    const showError = (blockId, text) => {
      for (const slot of modal.querySelectorAll('[data-error-for]')) if (slot.dataset.errorFor === blockId) slot.textContent = text;
      for (const wrap of modal.querySelectorAll('[data-input-for]')) if (wrap.dataset.inputFor === blockId && text) wrap.classList.add('invalid');
    };
    for (const slot of modal.querySelectorAll('[data-error-for]')) showError(slot.dataset.errorFor, (open.errors && open.errors[slot.dataset.errorFor]) || '');
    const buttons = el('div', 'modal-buttons');
    const cancel = el('button', '', (view.close && view.close.text) || 'Cancel');
    cancel.type = 'button';
    cancel.addEventListener('click', close);
    buttons.appendChild(cancel);
    if (view.submit) {
      const submit = el('button', 'submit', view.submit.text || 'Submit');
      submit.type = 'button';
      submit.addEventListener('click', () => {
        const values = {};
        let missing = false;
        for (const field of modal.querySelectorAll('[data-block-id]')) {
          // Slack checks required inputs itself: an empty one never reaches the app.
          if (field.dataset.required === 'true' && String(field.value).trim() === '') {
            showError(field.dataset.blockId, 'Please complete this required field.');
            missing = true;
          }
          values[field.dataset.blockId] = values[field.dataset.blockId] || {};
          values[field.dataset.blockId][field.dataset.actionId] = field.value;
        }
        if (missing) return;
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
    $('scale').textContent = data.timeScale > 1 ? 'Workflow time runs ' + data.timeScale + '\\u00d7 faster: reminders, escalations and expiry come sooner.' : '';
    renderActing();
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
    lastJson = '';
    await refresh();
  }

  function act(channelId, ts, actionId, blockId) {
    return post('/slack/act', { user, channel: channelId, ts, actionId, blockId });
  }

  // Answers can arrive out of order (a poll, a click, a switch of member): only the newest request's
  // answer, for the member acting now, is drawn; an older one could show another member's notices.
  let latestRequest = 0;
  async function refresh() {
    const request = ++latestRequest;
    const forUser = user;
    try {
      const response = await fetch('/slack/state?user=' + encodeURIComponent(forUser));
      const json = await response.text();
      if (request !== latestRequest || forUser !== user) return;
      $('offline').style.display = 'none';
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
      const offline = $('offline');
      offline.textContent = 'The local stack is not answering (' + String(error) + '). Is npm start still running?';
      offline.style.display = 'block';
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
  // One poll at a time: a slow answer is not queued behind by more of them.
  let polling = false;
  setInterval(() => {
    if (polling) return;
    polling = true;
    refresh().finally(() => { polling = false; });
  }, 1000);
})();
</script>
</body>
</html>
`;
}
