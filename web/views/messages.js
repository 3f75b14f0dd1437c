// Messages: the team (with live presence), the conversation list and one
// conversation (#/messages/<id>) with its composer.

import * as api from '../api.js';
import * as rt from '../realtime.js';
import * as chat from '../chat.js';
import { presenceDot, setDot } from '../presence.js';
import { callBar } from './meetings.js';
import { conversationFiles } from './documents.js';
import {
  h, heading, page, uid, emptyState, problemMessage, roleLabel, formatDateTime,
} from '../ui.js';

const PEOPLE_TTL_MS = 5 * 60_000;
const NEAR_BOTTOM_PX = 80;

const KIND_LABELS = {
  team: 'Team conversation',
  direct: 'Direct messages',
};

/* ------------------------------------------------------------ the page -- */

/** @param {import('../app.js').ViewContext} ctx */
export async function render(ctx) {
  const id = ctx.params.id || null;
  await chat.loadConversations({ signal: ctx.signal });
  const current = id ? await chat.fetchConversation(id, { signal: ctx.signal }) : null;

  const cleanups = [];
  ctx.signal.addEventListener('abort', () => {
    for (const fn of cleanups.splice(0)) fn();
  }, { once: true });

  const people = peoplePanel(ctx, cleanups);
  const list = conversationList(ctx, id, cleanups);
  const connection = connectionBanner(cleanups);

  const sidebar = h('div', { class: 'messaging__sidebar' },
    list.element,
    people.element);

  let main;
  if (current) {
    main = conversationPane(ctx, current, cleanups);
  } else {
    main = h('div', { class: 'messaging__pane messaging__pane--empty' },
      emptyState(chat.conversations().length
        ? 'Choose a conversation to read it.'
        : 'You have no conversations yet. Start one with someone in your team.'));
  }

  return page(
    h('div', { class: 'page-header page-header--compact' },
      current ? h('p', { class: 'messaging__back' }, h('a', { href: '#/messages' }, 'All conversations')) : null,
      heading(current ? titleFor(current, ctx.user) : 'Messages'),
      current ? h('p', { class: 'lead messaging__kind' }, kindDescription(current, ctx.user)) : null),
    connection,
    h('div', { class: ['messaging', current ? 'messaging--open' : null] },
      main,
      sidebar));
}

/** The server titles case threads for staff ("Alex Morgan (with Alex)"); a client sees whom they talk to. */
function titleFor(c, user) {
  if (c.kind === 'case' && user.role === 'client') return 'Your care team';
  return c.title || 'Conversation';
}

function kindDescription(c, user) {
  if (c.kind === 'case') {
    if (user.role === 'client') return 'Only you and the people supporting you can read this.';
    return c.includes_client
      ? 'Case thread: the client and their care team can read this.'
      : 'Case thread: only the care team can read this.';
  }
  return KIND_LABELS[c.kind] || '';
}

function shortKind(c) {
  if (c.kind === 'case') return c.includes_client ? 'Case thread, with client' : 'Case thread, care team';
  return c.kind === 'team' ? 'Team' : 'Direct';
}

/* ------------------------------------------------------ connection state -- */

function connectionBanner(cleanups) {
  const text = h('span', {});
  const retry = h('button', { type: 'button', class: 'button button--secondary button--small', hidden: true }, 'Reconnect');
  retry.addEventListener('click', () => rt.reconnectNow());
  const banner = h('div', { class: 'notice notice--warning connection-banner', role: 'status', hidden: true }, text, ' ', retry);
  const draw = ({ status, detail }) => {
    const messages = {
      connecting: 'Connecting…',
      reconnecting: 'Reconnecting… Messages you send now will go when the connection is back.',
      offline: 'You are offline. Messages you send now will go when you are back online.',
      stopped: detail || 'Not connected.',
    };
    const message = messages[status];
    // "Connecting…" on first load is brief: only show it after a moment.
    banner.hidden = !message;
    text.textContent = message || '';
    retry.hidden = status !== 'stopped';
  };
  draw(rt.status());
  cleanups.push(rt.on('status', draw));
  return banner;
}

/* ---------------------------------------------------- conversation list -- */

function conversationList(ctx, activeId, cleanups) {
  const headingId = uid('conversations');
  const listEl = h('ul', { class: 'conversation-list', 'aria-labelledby': headingId });
  const empty = h('p', { class: 'muted conversation-list__empty' }, 'No conversations yet.');
  const rows = new Map(); // id → { li, title, kind, badge, hidden text }

  function row(c) {
    let r = rows.get(c.id);
    if (!r) {
      const title = h('span', { class: 'conversation-link__title' });
      const kind = h('span', { class: 'conversation-link__kind' });
      const badge = h('span', { class: 'unread-badge', hidden: true });
      const link = h('a', {
        class: 'conversation-link',
        href: `#/messages/${encodeURIComponent(c.id)}`,
        'aria-current': c.id === activeId ? 'page' : undefined,
      }, title, kind, badge);
      r = { li: h('li', { class: 'conversation-list__item' }, link), title, kind, badge, signature: '' };
      rows.set(c.id, r);
    }
    const unread = Number(c.unread) || 0;
    const title = titleFor(c, ctx.user);
    const signature = `${title}|${c.kind}|${unread}`;
    if (signature !== r.signature) {
      r.signature = signature;
      r.title.textContent = title;
      r.kind.textContent = ctx.user.role === 'client' && c.kind === 'case' ? 'Case thread' : shortKind(c);
      r.badge.hidden = unread === 0;
      r.badge.replaceChildren(
        h('span', { 'aria-hidden': 'true' }, unread > 99 ? '99+' : String(unread)),
        h('span', { class: 'visually-hidden' }, `(${unread} unread)`),
      );
    }
    return r.li;
  }

  function draw() {
    const items = chat.conversations();
    const focused = /** @type {HTMLElement | null} */ (document.activeElement);
    const wanted = items.map(row);
    const keep = new Set(items.map((c) => c.id));
    for (const [id, r] of rows) {
      if (!keep.has(id)) {
        r.li.remove();
        rows.delete(id);
      }
    }
    wanted.forEach((li, index) => {
      if (listEl.children[index] !== li) listEl.insertBefore(li, listEl.children[index] || null);
    });
    if (focused && listEl.contains(focused) && document.activeElement !== focused) focused.focus({ preventScroll: true });
    empty.hidden = items.length > 0;
  }

  draw();
  cleanups.push(chat.on('change', ({ what }) => {
    if (what === 'conversations') draw();
  }));

  return {
    element: h('section', { class: 'messaging__section', 'aria-labelledby': headingId },
      h('h2', { id: headingId, class: 'messaging__heading' }, 'Conversations'),
      listEl,
      empty),
  };
}

/* --------------------------------------------------- people and presence -- */

let peopleCache = null; // { userId, at, data }

/** Staff: the teams I am on, with members. Clients: my care team. */
async function loadPeople(user, signal) {
  if (peopleCache && peopleCache.userId === user.id && Date.now() - peopleCache.at < PEOPLE_TTL_MS) {
    return peopleCache.data;
  }
  let data;
  if (user.role === 'client') {
    data = { kind: 'care', teams: [], people: await careTeam(signal) };
  } else {
    data = { kind: 'staff', teams: await myTeams(user, signal), people: [] };
  }
  peopleCache = { userId: user.id, at: Date.now(), data };
  return data;
}

export async function myTeams(user, signal) {
  const page = await api.request('/api/v1/teams', { query: { limit: 100 }, signal });
  const teams = new Map(((page && page.items) || []).map((t) => [t.id, { id: t.id, name: t.name }]));
  // Teams of a partner organisation are not in that list; their conversations say they exist.
  for (const c of chat.conversations()) {
    if (c.kind === 'team' && c.team_id && !teams.has(c.team_id)) teams.set(c.team_id, { id: c.team_id, name: c.title });
  }
  const loaded = await Promise.allSettled([...teams.values()].map(async (team) => ({
    ...team,
    members: await api.request(`/api/v1/teams/${encodeURIComponent(team.id)}/members`, { signal }),
  })));
  const mine = [];
  for (const result of loaded) {
    if (result.status !== 'fulfilled') continue;
    const team = result.value;
    const members = Array.isArray(team.members) ? team.members : [];
    // Only members in force: a proposed member takes no part until the team confirms them.
    const active = members.filter((m) => m.status !== 'pending');
    if (!active.some((m) => m.user_id === user.id)) continue;
    for (const m of active) chat.rememberName(m.user_id, m.display_name);
    mine.push({ ...team, members: active });
  }
  return mine.sort((a, b) => a.name.localeCompare(b.name));
}

async function careTeam(signal) {
  const list = await api.request('/api/v1/clients', { query: { limit: 1, offset: 0 }, signal });
  const items = Array.isArray(list) ? list : (list && list.items) || [];
  if (!items.length) return [];
  const client = await api.request(`/api/v1/clients/${encodeURIComponent(items[0].id)}`, { signal });
  const people = (client.care_team || [])
    .filter((m) => !m.until)
    .map((m) => ({ user_id: m.user_id, display_name: m.display_name, role: m.role_on_team }));
  for (const p of people) chat.rememberName(p.user_id, p.display_name);
  return people;
}

function presenceRow(person, meId) {
  const isMe = person.user_id === meId;
  const { state } = rt.presenceOf(person.user_id);
  const dot = presenceDot(state);
  const status = h('span', { class: 'person__status' }, rt.presenceLabel(state));
  const li = h('li', { class: 'person', dataset: { userId: person.user_id } },
    dot,
    h('span', { class: 'person__text' },
      h('span', { class: 'person__name' }, person.display_name || 'Unknown', isMe ? ' (you)' : ''),
      person.role ? h('span', { class: 'person__role' }, roleLabel(person.role)) : null),
    status);
  return { li, update() { const s = rt.presenceOf(person.user_id).state; setDot(dot, s); status.textContent = rt.presenceLabel(s); } };
}

function peoplePanel(ctx, cleanups) {
  const { user } = ctx;
  const headingId = uid('people');
  const isClient = user.role === 'client';
  const body = h('div', { class: 'people' }, h('p', { class: 'muted' }, 'Loading…'));
  const errors = h('p', { class: 'field__error', role: 'alert' });
  const rows = [];

  const refresh = () => rows.forEach((r) => r.update());
  cleanups.push(rt.on('presences', refresh), rt.on('self', refresh), rt.on('status', refresh));

  const open = async (button, payload) => {
    if (button.getAttribute('aria-disabled') === 'true') return;
    const text = button.textContent;
    button.setAttribute('aria-disabled', 'true');
    button.textContent = 'Opening…';
    errors.textContent = '';
    try {
      const c = await chat.openConversation(payload);
      if (!ctx.isCurrent()) return;
      ctx.navigate(`#/messages/${encodeURIComponent(c.id)}`);
    } catch (error) {
      if (!ctx.isCurrent()) return;
      errors.textContent = problemMessage(error);
    } finally {
      button.removeAttribute('aria-disabled');
      button.textContent = text;
    }
  };

  function startForm(people) {
    const others = new Map();
    for (const p of people) if (p.user_id !== user.id && !others.has(p.user_id)) others.set(p.user_id, p);
    if (!others.size) return null;
    const selectId = uid('start-with');
    const select = h('select', { id: selectId, class: 'select', name: 'user_id' },
      [...others.values()]
        .sort((a, b) => String(a.display_name).localeCompare(String(b.display_name)))
        .map((p) => h('option', { value: p.user_id }, p.display_name)));
    const submit = h('button', { type: 'submit', class: 'button button--secondary button--small' }, 'Start a conversation');
    const form = h('form', { class: 'start-conversation' },
      h('label', { for: selectId, class: 'field__label' }, isClient ? 'Care team member' : 'Team member'),
      select,
      submit);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      open(submit, { kind: 'direct', user_id: select.value });
    });
    return form;
  }

  function peopleList(label, people) {
    const list = h('ul', { class: 'people__list', 'aria-label': label });
    const sorted = [...people].sort((a, b) => Number(b.user_id === user.id) - Number(a.user_id === user.id)
      || String(a.display_name).localeCompare(String(b.display_name)));
    for (const person of sorted) {
      const r = presenceRow(person, user.id);
      rows.push(r);
      list.append(r.li);
    }
    return list;
  }

  loadPeople(user, ctx.signal).then((data) => {
    if (!ctx.isCurrent()) return;
    body.replaceChildren();
    if (data.kind === 'care') {
      // The care team from the record, plus anyone else whose presence we are shown.
      const people = [...data.people];
      for (const idSeen of rt.knownPresenceIds()) {
        if (!people.some((p) => p.user_id === idSeen)) {
          people.push({ user_id: idSeen, display_name: chat.nameOf(idSeen) || 'Care team member' });
        }
      }
      if (!people.length) {
        body.append(emptyState('No one is on your care team yet.'));
        return;
      }
      body.append(peopleList('Care team', people), startForm(people));
      return;
    }
    if (!data.teams.length) {
      body.append(h('p', { class: 'muted' }, 'You are not on a team.'));
      return;
    }
    for (const team of data.teams) {
      const teamHeading = uid('team');
      const teamButton = h('button', { type: 'button', class: 'button button--secondary button--small' },
        'Team conversation',
        data.teams.length > 1 ? h('span', { class: 'visually-hidden' }, `: ${team.name}`) : null);
      teamButton.addEventListener('click', () => open(teamButton, { kind: 'team', team_id: team.id }));
      body.append(h('div', { class: 'team-group', role: 'group', 'aria-labelledby': teamHeading },
        h('h3', { id: teamHeading, class: 'team-group__name' }, team.name),
        peopleList(`${team.name} members`, team.members),
        h('p', { class: 'team-group__actions' }, teamButton)));
    }
    body.append(startForm(data.teams.flatMap((t) => t.members)));
  }).catch((error) => {
    if (!ctx.isCurrent() || (error && error.name === 'AbortError')) return;
    body.replaceChildren(h('p', { class: 'field__error' }, `Your team could not be shown. ${problemMessage(error)}`));
  });

  return {
    element: h('section', { class: 'messaging__section', 'aria-labelledby': headingId },
      h('h2', { id: headingId, class: 'messaging__heading' }, isClient ? 'Your care team' : 'Your team'),
      errors,
      body),
  };
}

/* -------------------------------------------------- the conversation pane -- */

const clock = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit' });
const dayAndClock = new Intl.DateTimeFormat('en-GB', {
  day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit',
});

function shortTime(value) {
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return '';
  return d.toDateString() === new Date().toDateString() ? clock.format(d) : dayAndClock.format(d);
}

function typingText(typists) {
  const names = typists.map((t) => t.name || 'Someone');
  if (!names.length) return '';
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return `${names.length} people are typing…`;
}

function joinNames(names) {
  if (names.length <= 1) return names.join('');
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}

function conversationPane(ctx, c, cleanups) {
  const { id } = c;
  const meId = chat.myId();
  const logLabel = uid('log');
  const list = h('ol', { class: 'message-list' });
  const empty = h('p', { class: 'message-list__empty muted' }, 'No messages yet.');
  const status = h('p', { class: 'thread__status muted', role: 'status' });
  const log = h('div', {
    class: 'thread__log', role: 'log', 'aria-labelledby': logLabel, tabindex: '0',
  }, list, empty);
  const older = h('button', { type: 'button', class: 'button button--link thread__older', hidden: true }, 'Show earlier messages');
  const typing = h('p', { class: 'typing-indicator' });
  const items = new Map(); // key → { li, parts, signature }
  let firstDraw = true;

  /* ----- messages ----- */

  function messageItem(key) {
    let item = items.get(key);
    if (!item) {
      const parts = {
        sender: h('span', { class: 'message__sender' }),
        time: h('time', { class: 'message__time' }),
        edited: h('span', { class: 'message__edited' }),
        body: h('p', { class: 'message__body' }),
        state: h('p', { class: 'message__state' }),
        seen: h('p', { class: 'message__seen' }),
      };
      const li = h('li', { class: 'message' },
        h('p', { class: 'message__meta' }, parts.sender, ' ', parts.time, parts.edited),
        parts.body,
        parts.state,
        parts.seen);
      item = { li, parts, signature: '' };
      items.set(key, item);
    }
    return item;
  }

  function setText(el, text) {
    if (el.textContent !== text) el.textContent = text;
    el.hidden = !text;
  }

  function drawMessage(item, m, { pending = null, seenBy = [] } = {}) {
    const own = m.sender_id === meId;
    const signature = JSON.stringify([m.seq, m.body, m.edited_at, m.deleted, m.created_at,
      pending && pending.status, pending && pending.error && pending.error.message, seenBy]);
    if (signature === item.signature) return;
    item.signature = signature;
    const { parts, li } = item;
    li.className = ['message', own ? 'message--own' : null, pending ? `message--${pending.status}` : null,
      m.deleted ? 'message--deleted' : null].filter(Boolean).join(' ');
    setText(parts.sender, own ? 'You' : (m.sender_name || chat.nameOf(m.sender_id) || 'Someone'));
    if (m.created_at) {
      parts.time.setAttribute('datetime', m.created_at);
      parts.time.title = formatDateTime(m.created_at);
    }
    setText(parts.time, m.created_at ? shortTime(m.created_at) : '');
    setText(parts.edited, m.edited_at && !m.deleted ? ' (edited)' : '');
    if (m.deleted) {
      parts.body.classList.add('message__body--deleted');
      setText(parts.body, 'This message was deleted.');
    } else {
      parts.body.classList.remove('message__body--deleted');
      setText(parts.body, m.body || '');
    }
    parts.state.replaceChildren();
    parts.state.hidden = !pending;
    if (pending && pending.status === 'sending') {
      parts.state.append('Sending…');
    } else if (pending && pending.status === 'failed') {
      const retry = h('button', { type: 'button', class: 'button button--link' }, 'Try again');
      const edit = h('button', { type: 'button', class: 'button button--link' }, 'Edit');
      const remove = h('button', { type: 'button', class: 'button button--link' }, 'Remove');
      retry.addEventListener('click', () => chat.retry(id, pending.client_msg_id));
      edit.addEventListener('click', () => {
        chat.discard(id, pending.client_msg_id);
        textarea.value = pending.body;
        textarea.focus();
      });
      remove.addEventListener('click', () => {
        chat.discard(id, pending.client_msg_id);
        textarea.focus();
      });
      parts.state.append(
        h('span', { class: 'message__error' }, `Not sent. ${(pending.error && pending.error.message) || ''}`.trim()),
        ' ', retry, ' ', edit, ' ', remove);
    }
    setText(parts.seen, seenBy.length ? `Seen by ${joinNames(seenBy)}` : '');
  }

  /** Each other person's read position, shown under the last message they have read. */
  function seenMap(state, messages) {
    const bySeq = new Map();
    const seqs = messages.map((m) => m.seq);
    for (const [userId, seq] of state.receipts) {
      if (userId === meId) continue;
      // The newest loaded message at or before their read marker.
      let at = null;
      for (let i = seqs.length - 1; i >= 0; i -= 1) {
        if (seqs[i] <= seq) {
          at = seqs[i];
          break;
        }
      }
      if (at === null) continue;
      const message = messages.find((m) => m.seq === at);
      if (message && message.sender_id === userId) continue; // they wrote it
      const name = chat.nameOf(userId) || 'Someone';
      bySeq.set(at, [...(bySeq.get(at) || []), name].sort());
    }
    return bySeq;
  }

  function drawThread() {
    const state = chat.threadState(id);
    const nearBottom = log.scrollHeight - log.scrollTop - log.clientHeight < NEAR_BOTTOM_PX;
    const seen = seenMap(state, state.messages);
    const wanted = [];
    for (const m of state.messages) {
      const key = `${m.sender_id}:${m.client_msg_id || m.seq}`;
      const item = messageItem(key);
      drawMessage(item, m, { seenBy: seen.get(m.seq) || [] });
      wanted.push([key, item.li, m.created_at]);
    }
    for (const entry of state.outbox) {
      const key = `${meId}:${entry.client_msg_id}`;
      const item = messageItem(key);
      drawMessage(item, {
        sender_id: meId, body: entry.body, created_at: entry.createdAt, edited_at: null, deleted: false,
      }, { pending: entry });
      wanted.push([key, item.li, entry.createdAt]);
    }
    const keep = new Set(wanted.map(([key]) => key));
    for (const [key, item] of items) {
      if (!keep.has(key)) {
        item.li.remove();
        items.delete(key);
      }
    }
    // The files attached here, as cards among the messages (views/documents.js).
    const shown = files.merge(wanted);
    shown.forEach(([, li], index) => {
      if (list.children[index] !== li) list.insertBefore(li, list.children[index] || null);
    });

    empty.hidden = state.status !== 'ready' || shown.length > 0;
    older.hidden = !(state.status === 'ready' && state.hasOlder);
    if (state.status === 'loading' || state.status === 'new') status.textContent = 'Loading messages…';
    else if (state.status === 'gone') status.textContent = 'You are no longer in this conversation.';
    else if (state.status === 'error') status.textContent = `The messages could not be loaded. ${problemMessage(state.error)}`;
    else status.textContent = '';
    status.hidden = !status.textContent;
    composer.hidden = state.status === 'gone';

    if (firstDraw && state.status === 'ready') {
      firstDraw = false;
      // The pane may not be on the page yet (the router attaches it): scroll once it is.
      window.requestAnimationFrame(() => {
        log.scrollTop = log.scrollHeight;
      });
    } else if (nearBottom) {
      log.scrollTop = log.scrollHeight;
    }
  }

  function drawTyping() {
    setText(typing, typingText(chat.threadState(id).typing));
    typing.hidden = false; // keep its height, so the composer does not jump
  }

  older.addEventListener('click', async () => {
    const before = log.scrollHeight;
    older.setAttribute('aria-disabled', 'true');
    older.textContent = 'Loading…';
    try {
      await chat.loadOlder(id);
      log.scrollTop += log.scrollHeight - before;
    } catch (error) {
      status.textContent = problemMessage(error);
      status.hidden = false;
    } finally {
      older.removeAttribute('aria-disabled');
      older.textContent = 'Show earlier messages';
    }
  });

  /* ----- composer ----- */

  const files = conversationFiles(ctx, c, { onChange: () => drawThread(), nameOf: chat.nameOf });

  const textareaId = uid('message');
  const hintId = `${textareaId}-hint`;
  const errorId = `${textareaId}-error`;
  const textarea = h('textarea', {
    id: textareaId,
    name: 'body',
    class: 'input composer__input',
    rows: '3',
    'aria-describedby': hintId,
    autocomplete: 'off',
  });
  const composerError = h('p', { id: errorId, class: 'field__error composer__error', role: 'alert' });
  const send = h('button', { type: 'submit', class: 'button composer__send' }, 'Send');
  const composer = h('form', { class: 'composer', novalidate: true },
    h('label', { for: textareaId, class: 'field__label' }, 'Message'),
    h('p', { id: hintId, class: 'field__hint' }, 'Press Enter to send, Shift and Enter for a new line.'),
    composerError,
    h('div', { class: 'composer__row' }, textarea, send),
    h('div', { class: 'composer__tools' }, files.attach),
    files.attachPanel);

  function showError(message) {
    composerError.textContent = message || '';
    if (message) {
      textarea.setAttribute('aria-invalid', 'true');
      textarea.setAttribute('aria-describedby', `${hintId} ${errorId}`);
    } else {
      textarea.removeAttribute('aria-invalid');
      textarea.setAttribute('aria-describedby', hintId);
    }
  }

  function submit() {
    const body = textarea.value;
    if (!body.trim()) {
      textarea.focus();
      return;
    }
    const limit = Number(rt.limits().message_chars) || 0;
    const length = [...body].length;
    if (limit && length > limit) {
      showError(`Messages are limited to ${limit} characters. This one has ${length}.`);
      textarea.focus();
      return;
    }
    showError('');
    chat.stopTyping();
    chat.sendMessage(id, body);
    textarea.value = '';
    textarea.focus();
    log.scrollTop = log.scrollHeight;
  }

  composer.addEventListener('submit', (event) => {
    event.preventDefault();
    submit();
  });
  textarea.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.altKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });
  textarea.addEventListener('input', () => {
    if (composerError.textContent) showError('');
    if (textarea.value.trim()) chat.noteTyping(id);
    else chat.stopTyping();
  });
  textarea.addEventListener('blur', () => chat.stopTyping());

  /* ----- wiring ----- */

  cleanups.push(chat.on('change', ({ what, id: changed, message }) => {
    if (changed !== id) return;
    if (what === 'thread' || what === 'receipts') drawThread();
    else if (what === 'typing') drawTyping();
    else if (what === 'send-error') showError(message);
  }));
  cleanups.push(() => {
    chat.stopTyping();
    chat.setActive(null);
  });

  chat.setActive(id);
  drawThread();
  drawTyping();
  chat.loadThread(id, { signal: ctx.signal }).catch(() => {});

  const labelText = h('h2', { id: logLabel, class: 'visually-hidden' }, `Messages in ${titleFor(c, ctx.user)}`);
  const caseLink = c.kind === 'case' && c.client_id && ctx.user.role !== 'client'
    ? h('p', { class: 'thread__record' }, h('a', { href: `#/clients/${encodeURIComponent(c.client_id)}` }, 'Open the client’s record'))
    : null;

  return h('section', { class: 'messaging__pane thread', 'aria-labelledby': logLabel },
    labelText,
    caseLink,
    ctx.user.role !== 'client' && c.kind !== 'direct' ? callBar(ctx, c) : null,
    searchPanel(ctx, c),
    files.list,
    older,
    status,
    log,
    typing,
    composer);
}

/* ------------------------------------------------- search a conversation -- */

// The server's bounds for `q` (docs/api.md, "Message history"): checked here
// too so a one-letter search is explained rather than sent.
const SEARCH_MIN_CHARS = 2;
const SEARCH_MAX_CHARS = 100;

/** "Search this conversation": the latest messages containing the words. */
function searchPanel(ctx, c) {
  const inputId = uid('search');
  const errorId = `${inputId}-error`;
  const input = h('input', {
    id: inputId, name: 'q', type: 'search', class: 'input', autocomplete: 'off',
    maxlength: String(SEARCH_MAX_CHARS),
  });
  const error = h('p', { id: errorId, class: 'field__error', role: 'alert' });
  const status = h('p', { class: 'thread-search__status', role: 'status' });
  const results = h('ol', { class: 'thread-search__results', 'aria-label': 'Matching messages', hidden: true });
  const button = h('button', { type: 'submit', class: 'button button--secondary' }, 'Search');
  const form = h('form', { class: 'thread-search__form', role: 'search', novalidate: true },
    h('label', { for: inputId, class: 'field__label' }, 'Words to find'),
    error,
    h('div', { class: 'thread-search__row' }, input, button));

  function showError(message) {
    error.textContent = message || '';
    if (message) {
      input.setAttribute('aria-invalid', 'true');
      input.setAttribute('aria-describedby', errorId);
    } else {
      input.removeAttribute('aria-invalid');
      input.removeAttribute('aria-describedby');
    }
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (button.getAttribute('aria-disabled') === 'true') return;
    const q = input.value.trim();
    showError('');
    if ([...q].length < SEARCH_MIN_CHARS) {
      showError(`Enter at least ${SEARCH_MIN_CHARS} characters to search for.`);
      input.focus();
      return;
    }
    button.setAttribute('aria-disabled', 'true');
    status.textContent = 'Searching…';
    try {
      const answer = await api.request(`/api/v1/conversations/${encodeURIComponent(c.id)}/search`,
        { query: { q }, signal: ctx.signal });
      if (!ctx.isCurrent()) return;
      const found = (answer && Array.isArray(answer.messages) ? answer.messages : []).filter((m) => !m.deleted);
      // Newest first: the one someone is looking for is usually recent.
      results.replaceChildren(...found.slice().reverse().map((m) => h('li', { class: 'thread-search__item' },
        h('p', { class: 'message__meta' },
          h('span', { class: 'message__sender' }, m.sender_id === chat.myId() ? 'You' : (m.sender_name || 'Someone')),
          ' ',
          h('time', { class: 'message__time', datetime: m.created_at }, formatDateTime(m.created_at))),
        h('p', { class: 'message__body' }, m.body || ''))));
      results.hidden = found.length === 0;
      const count = found.length === 1 ? '1 message matches' : `${found.length} messages match`;
      status.textContent = found.length
        ? `${count} “${q}”${answer.has_more ? ' (the latest ones; earlier matches are left out)' : ''}.`
        : `No messages match “${q}”.`;
    } catch (failure) {
      if (!ctx.isCurrent() || (failure && failure.name === 'AbortError')) return;
      status.textContent = '';
      results.hidden = true;
      showError(`The search failed. ${problemMessage(failure)}`);
    } finally {
      button.removeAttribute('aria-disabled');
    }
  });

  return h('details', { class: 'details thread-search' },
    h('summary', {}, 'Search this conversation'),
    form,
    status,
    results);
}
