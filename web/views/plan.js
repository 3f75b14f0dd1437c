// The shared plan (docs/plans.md): goals in the client's words, vocational
// profile, actions, support needs and diversion activities.
//
// - Editing works on a draft of the version read; Save sends the whole plan
//   with If-Match: <the ETag read>. A 412 means someone saved in between:
//   their version is shown beside ours and the person chooses "Use theirs"
//   or "Re-apply my change" (their sections are kept wherever we changed
//   nothing; ours go on top). Nothing is ever overwritten silently.
// - Live: on plan.updated for this client the page refreshes in place when
//   there are no unsaved edits ("Updated by … just now"); with unsaved edits
//   a banner says the plan changed and the save will need merging.
// - Comments on every item and section (live through plan.comment).
// - History: every version with who, when and which sections changed.
// - A client edits only their goals; the other sections are read-only for
//   them, and they may comment on anything.

import * as api from '../api.js';
import * as rt from '../realtime.js';
import {
  h, heading, page, uid, badge, time, formatDateTime, humanise, label, roleLabel,
  problemMessage, emptyState,
} from '../ui.js';

const SECTIONS = ['goals', 'vocational_profile', 'actions', 'support_needs', 'diversion'];
const SECTION_TITLES = {
  goals: 'Goals',
  vocational_profile: 'Vocational profile',
  actions: 'Actions',
  support_needs: 'Support needs',
  diversion: 'Diversion activities',
};
const ACTION_STATUS = { open: 'Open', done: 'Done', cancelled: 'Cancelled' };
const SUPPORT_KINDS = {
  housing: 'Housing',
  debt_advice: 'Debt advice',
  welfare_benefits: 'Welfare-benefits counselling',
  other: 'Other',
};
const REFERRAL_STATUS = {
  to_refer: 'To refer',
  referred: 'Referred',
  accepted: 'Accepted',
  declined: 'Declined',
  completed: 'Completed',
};
const DIVERSION_KINDS = { life_skills: 'Life skills', vocational_skills: 'Vocational skills' };

/* ---------------------------------------------------------------- data -- */

/** JSON with sorted keys, so equal content compares equal whatever the key order. */
function stable(value) {
  if (Array.isArray(value)) return `[${value.map(stable).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${stable(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value === undefined ? null : value);
}

const same = (a, b) => stable(a) === stable(b);
const clone = (value) => JSON.parse(JSON.stringify(value));

function newId() {
  const bytes = new Uint8Array(6);
  window.crypto.getRandomValues(bytes);
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
}

const arr = (v) => (Array.isArray(v) ? v.filter((x) => x && typeof x === 'object') : []);
const str = (v) => (typeof v === 'string' ? v : '');
const strings = (v) => (Array.isArray(v) ? v.map(String) : []);
const count = (v) => (Number.isInteger(v) ? v : 0);

/** The plan content in full (a plan never saved is `{}` in a 412). */
export function normalise(content) {
  const c = content && typeof content === 'object' ? content : {};
  const vp = c.vocational_profile && typeof c.vocational_profile === 'object' ? c.vocational_profile : {};
  const prefs = vp.preferences && typeof vp.preferences === 'object' ? vp.preferences : {};
  return {
    goals: arr(c.goals).map((g) => ({ id: String(g.id || newId()), text: str(g.text) })),
    vocational_profile: {
      preferences: {
        types: strings(prefs.types),
        locations: strings(prefs.locations),
        hours_per_week: Number.isInteger(prefs.hours_per_week) ? prefs.hours_per_week : null,
      },
      work_history: str(vp.work_history),
      skills: strings(vp.skills),
      what_helps: str(vp.what_helps),
      what_gets_in_the_way: str(vp.what_gets_in_the_way),
    },
    actions: arr(c.actions).map((a) => ({
      id: String(a.id || newId()),
      text: str(a.text),
      owner_id: a.owner_id || null,
      due_on: a.due_on || null,
      status: a.status || 'open',
    })),
    support_needs: arr(c.support_needs).map((n) => ({
      id: String(n.id || newId()),
      kind: n.kind || 'other',
      description: str(n.description),
      referral_status: n.referral_status || 'to_refer',
    })),
    diversion: arr(c.diversion).map((d) => ({
      id: String(d.id || newId()),
      kind: d.kind || 'life_skills',
      activity: str(d.activity),
      sessions_offered: count(d.sessions_offered),
      sessions_attended: count(d.sessions_attended),
    })),
  };
}

export function changedSections(before, after) {
  return SECTIONS.filter((key) => !same(before[key], after[key]));
}

/** "Goals", "Goals and Actions", "Goals, Actions and Diversion activities". */
function sectionList(keys) {
  const names = keys.map((k, i) => (i === 0 ? SECTION_TITLES[k] || humanise(k) : (SECTION_TITLES[k] || humanise(k)).toLowerCase()));
  if (names.length <= 1) return names.join('');
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}

function today() {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

/* ----------------------------------------------------------------- page -- */

/** @param {import('../app.js').ViewContext} ctx */
export async function render(ctx) {
  const id = encodeURIComponent(ctx.params.id);
  const [client, read, comments] = await Promise.all([
    api.request(`/api/v1/clients/${id}`, { signal: ctx.signal }),
    api.request(`/api/v1/clients/${id}/plan`, { signal: ctx.signal, withHeaders: true }),
    api.request(`/api/v1/clients/${id}/plan/comments`, { signal: ctx.signal }),
  ]);
  return planPage(ctx, client, read, Array.isArray(comments) ? comments : []);
}

function fromView(view, etag) {
  return {
    version: Number(view.version) || 0,
    content: normalise(view.content),
    etag: etag || `"${Number(view.version) || 0}"`,
    updated_by_name: view.updated_by_name || null,
    updated_at: view.updated_at || null,
  };
}

function planPage(ctx, client, read, initialComments) {
  const isClient = ctx.user.role === 'client';
  const clientPath = `/api/v1/clients/${encodeURIComponent(client.id)}`;
  const name = client.display_name || 'this client';
  const firstName = String(client.display_name || '').trim().split(/\s+/)[0] || 'the client';
  const canEdit = (key) => !isClient || key === 'goals';

  const state = {
    base: fromView(read.data, read.headers.get('ETag')),
    draft: null,
    saving: false,
    remote: null, // a newer version announced while we had unsaved edits
    conflict: null,
    message: '', // the last thing that happened ("Saved as version 4.")
  };
  state.draft = clone(state.base.content);

  const cleanups = [];
  ctx.signal.addEventListener('abort', () => {
    for (const fn of cleanups.splice(0)) fn();
  }, { once: true });

  /* ------------------------------------------------------------ people -- */

  const members = (client.care_team || []).filter((m) => m && m.user_id);
  const names = new Map(members.map((m) => [String(m.user_id), m.display_name || 'Someone']));
  const clientLabel = isClient ? 'You' : `${firstName} (the client)`;
  const ownerName = (ownerId) => (ownerId ? names.get(String(ownerId)) || 'Someone no longer on the care team' : clientLabel);
  const ownerOptions = (current) => {
    const options = [['', clientLabel]];
    for (const m of members) {
      if (m.until && String(m.user_id) !== String(current)) continue;
      const role = m.role_on_team ? roleLabel(m.role_on_team) : '';
      options.push([String(m.user_id), `${m.display_name || 'Someone'}${role ? ` (${role})` : ''}${m.until ? ', former' : ''}`]);
    }
    if (current && !options.some(([v]) => v === String(current))) {
      options.push([String(current), 'Someone no longer on the care team']);
    }
    return options;
  };

  /* ---------------------------------------------------------- comments -- */

  const comments = new Map(); // item_id → [comment], oldest first
  const boxes = new Map(); // item_id → comment box

  function addComment(comment) {
    if (!comment || !comment.item_id) return false;
    const list = comments.get(comment.item_id) || [];
    if (list.some((c) => c.id === comment.id)) return false;
    list.push(comment);
    list.sort((a, b) => String(a.created_at).localeCompare(String(b.created_at)));
    comments.set(comment.item_id, list);
    const box = boxes.get(comment.item_id);
    if (box) box.update();
    return true;
  }
  for (const c of initialComments) addComment(c);

  function commentBox(itemId, context) {
    let box = boxes.get(itemId);
    if (!box) {
      const summaryText = h('span', {});
      const contextText = h('span', { class: 'visually-hidden' });
      const listEl = h('ul', { class: 'comment-list' });
      const inputId = uid('comment');
      const input = h('textarea', {
        id: inputId, class: 'input comment-form__input', rows: '2', maxlength: '2000', dataset: { comment: itemId },
      });
      const error = h('p', { class: 'field__error', role: 'alert' });
      const post = h('button', { type: 'submit', class: 'button button--small button--secondary' }, 'Post comment');
      const labelEl = h('label', { for: inputId, class: 'field__label' }, 'Add a comment');
      const form = h('form', { class: 'comment-form' }, labelEl, input, error, post);
      const element = h('details', { class: 'plan-comments' }, h('summary', {}, summaryText, contextText), listEl, form);
      form.addEventListener('submit', async (event) => {
        event.preventDefault();
        const text = input.value.trim();
        error.textContent = '';
        if (!text) {
          error.textContent = 'Write a comment first.';
          input.focus();
          return;
        }
        if (post.getAttribute('aria-disabled') === 'true') return;
        post.setAttribute('aria-disabled', 'true');
        try {
          const saved = await api.request(`${clientPath}/plan/comments`, {
            method: 'POST', body: { item_id: itemId, text },
          });
          if (!ctx.isCurrent()) return;
          addComment(saved);
          input.value = '';
          input.focus();
        } catch (failure) {
          if (!ctx.isCurrent()) return;
          error.textContent = problemMessage(failure);
        } finally {
          post.removeAttribute('aria-disabled');
        }
      });
      box = {
        element,
        setContext(text) {
          contextText.textContent = ` ${text}`;
          labelEl.replaceChildren('Add a comment', h('span', { class: 'visually-hidden' }, ` ${text}`));
        },
        update() {
          const list = comments.get(itemId) || [];
          summaryText.textContent = list.length ? `Comments (${list.length})` : 'Comment';
          listEl.replaceChildren(...list.map((c) => h('li', { class: 'comment' },
            h('p', { class: 'comment__meta' },
              h('span', { class: 'comment__author' }, String(c.author_id) === String(ctx.user.id) ? 'You' : c.author_name || 'Someone'),
              ' · ', time(c.created_at, { withTime: true })),
            h('p', { class: 'comment__text' }, c.text))));
          listEl.hidden = list.length === 0;
        },
      };
      boxes.set(itemId, box);
    }
    box.setContext(context);
    box.update();
    return box.element;
  }

  /* ------------------------------------------------------- form fields -- */

  function control(tag, key, props, ...children) {
    return h(tag, { id: uid('plan'), dataset: { key }, ...props }, ...children);
  }

  /**
   * @param {string} labelText
   * @param {HTMLElement} input
   * @param {{ hint?: string, className?: string }} [options]
   */
  function field(labelText, input, { hint, className } = {}) {
    const hintId = hint ? `${input.id}-hint` : null;
    if (hintId) input.setAttribute('aria-describedby', hintId);
    return h('div', { class: ['field', className] },
      h('label', { for: input.id, class: 'field__label' }, labelText),
      hint ? h('p', { id: hintId, class: 'field__hint' }, hint) : null,
      input);
  }

  function textArea(key, value, onValue, { rows = 2, maxlength = 1000 } = {}) {
    const el = control('textarea', key, { class: 'input plan-input', rows: String(rows), maxlength: String(maxlength) });
    el.value = value;
    el.addEventListener('input', () => {
      onValue(el.value);
      edited();
    });
    return el;
  }

  function textInput(key, value, onValue, { maxlength = 300 } = {}) {
    const el = control('input', key, { type: 'text', class: 'input plan-input', maxlength: String(maxlength) });
    el.value = value;
    el.addEventListener('input', () => {
      onValue(el.value);
      edited();
    });
    return el;
  }

  function numberInput(key, value, onValue, { max, empty = null }) {
    const el = control('input', key, {
      type: 'number', inputmode: 'numeric', min: '0', max: String(max), step: '1', class: 'input input--number',
    });
    el.value = value === null || value === undefined ? '' : String(value);
    el.addEventListener('input', () => {
      const raw = el.value.trim();
      onValue(raw === '' ? empty : /^\d+$/.test(raw) ? Number(raw) : raw);
      edited();
    });
    return el;
  }

  function listArea(key, values, onValue) {
    return textArea(key, values.join('\n'), (v) => onValue(v.split('\n').map((s) => s.trim()).filter(Boolean)), { rows: 3, maxlength: 4000 });
  }

  function select(key, value, options, onValue) {
    const el = control('select', key, { class: 'select plan-select' },
      options.map(([v, text]) => h('option', { value: v, selected: String(v) === String(value ?? '') }, text)));
    el.addEventListener('change', () => {
      onValue(el.value);
      edited();
    });
    return el;
  }

  function dateInput(key, value, onValue) {
    const el = control('input', key, { type: 'date', class: 'input input--date' });
    el.value = value || '';
    el.addEventListener('input', () => {
      onValue(el.value || null);
      edited();
    });
    return el;
  }

  /**
   * @param {string} text
   * @param {string} key
   * @param {() => void} onClick
   * @param {{ secondary?: boolean, small?: boolean, hidden?: string }} [options]  hidden: words only a screen reader hears after the text
   */
  function button(text, key, onClick, { secondary = true, small = true, hidden: hiddenText } = {}) {
    const el = h('button', {
      type: 'button',
      class: ['button', secondary ? 'button--secondary' : null, small ? 'button--small' : null],
      dataset: { key },
    }, text, hiddenText ? h('span', { class: 'visually-hidden' }, ` ${hiddenText}`) : null);
    el.addEventListener('click', onClick);
    return el;
  }

  const inBase = (key, id) => state.base.content[key].some((item) => item.id === id);

  function itemComments(key, id, context) {
    return inBase(key, id)
      ? commentBox(id, context)
      : h('p', { class: 'muted plan-item__note' }, 'New: save the plan to comment on it.');
  }

  function addItem(key, item, focusField) {
    state.draft[key].push(item);
    edited();
    draw({ focusKey: `${key}.${item.id}.${focusField}` });
  }

  function removeItem(key, id) {
    state.draft[key] = state.draft[key].filter((item) => item.id !== id);
    edited();
    draw({ focusKey: `${key}.add` });
  }

  /* ---------------------------------------------------- editable views -- */

  function editGoals() {
    const goals = state.draft.goals;
    return [
      goals.length
        ? h('ol', { class: 'plan-items' }, goals.map((goal, i) => h('li', { class: 'plan-item' },
          field(`Goal ${i + 1}`, textArea(`goals.${goal.id}.text`, goal.text, (v) => { goal.text = v; })),
          h('div', { class: 'plan-item__tools' },
            itemComments('goals', goal.id, `on goal ${i + 1}`),
            button('Remove', `goals.${goal.id}.remove`, () => removeItem('goals', goal.id), { hidden: `goal ${i + 1}` })))))
        : emptyState(isClient ? 'You have not written any goals yet.' : 'No goals yet.'),
      button('Add a goal', 'goals.add', () => addItem('goals', { id: newId(), text: '' }, 'text'), { secondary: false }),
    ];
  }

  function editProfile() {
    const vp = state.draft.vocational_profile;
    const prefs = vp.preferences;
    return [h('div', { class: 'plan-grid' },
      field('Types of work wanted', listArea('vp.types', prefs.types, (v) => { prefs.types = v; }), { hint: 'One per line' }),
      field('Where', listArea('vp.locations', prefs.locations, (v) => { prefs.locations = v; }), { hint: 'Places or areas, one per line' }),
      field('Hours per week', numberInput('vp.hours', prefs.hours_per_week, (v) => { prefs.hours_per_week = v; }, { max: 80 }), { hint: 'Leave empty if not decided' }),
      field('Skills', listArea('vp.skills', vp.skills, (v) => { vp.skills = v; }), { hint: 'One per line' }),
      field('Work history', textArea('vp.work_history', vp.work_history, (v) => { vp.work_history = v; }, { rows: 4, maxlength: 4000 }), { className: 'plan-grid__wide' }),
      field('What helps', textArea('vp.what_helps', vp.what_helps, (v) => { vp.what_helps = v; }, { rows: 3, maxlength: 2000 })),
      field('What gets in the way', textArea('vp.what_gets_in_the_way', vp.what_gets_in_the_way, (v) => { vp.what_gets_in_the_way = v; }, { rows: 3, maxlength: 2000 })))];
  }

  function editActions() {
    const actions = state.draft.actions;
    const now = today();
    return [
      actions.length
        ? h('ol', { class: 'plan-items' }, actions.map((action, i) => {
          const overdue = action.status === 'open' && action.due_on && action.due_on < now;
          return h('li', { class: 'plan-item' },
            h('fieldset', { class: 'plan-fieldset' },
              h('legend', { class: 'plan-fieldset__legend' }, `Action ${i + 1}`, overdue ? [' ', badge('Overdue', 'outcome-bad')] : null),
              field('What will be done', textArea(`actions.${action.id}.text`, action.text, (v) => { action.text = v; })),
              h('div', { class: 'plan-item__row' },
                field('Who', select(`actions.${action.id}.owner`, action.owner_id || '', ownerOptions(action.owner_id), (v) => { action.owner_id = v || null; })),
                field('Due by', dateInput(`actions.${action.id}.due`, action.due_on, (v) => { action.due_on = v; })),
                field('Status', select(`actions.${action.id}.status`, action.status, Object.entries(ACTION_STATUS), (v) => { action.status = v; })))),
            h('div', { class: 'plan-item__tools' },
              itemComments('actions', action.id, `on action ${i + 1}`),
              button('Remove', `actions.${action.id}.remove`, () => removeItem('actions', action.id), { hidden: `action ${i + 1}` })));
        }))
        : emptyState('No actions yet.'),
      button('Add an action', 'actions.add', () => addItem('actions', {
        id: newId(), text: '', owner_id: null, due_on: null, status: 'open',
      }, 'text'), { secondary: false }),
    ];
  }

  function editSupport() {
    const needs = state.draft.support_needs;
    return [
      needs.length
        ? h('ol', { class: 'plan-items' }, needs.map((need, i) => h('li', { class: 'plan-item' },
          h('fieldset', { class: 'plan-fieldset' },
            h('legend', { class: 'plan-fieldset__legend' }, `Support need ${i + 1}`),
            h('div', { class: 'plan-item__row' },
              field('Type of support', select(`support_needs.${need.id}.kind`, need.kind, Object.entries(SUPPORT_KINDS), (v) => { need.kind = v; })),
              field('Referral', select(`support_needs.${need.id}.referral`, need.referral_status, Object.entries(REFERRAL_STATUS), (v) => { need.referral_status = v; }))),
            field('What is needed', textArea(`support_needs.${need.id}.description`, need.description, (v) => { need.description = v; }))),
          h('div', { class: 'plan-item__tools' },
            itemComments('support_needs', need.id, `on support need ${i + 1}`),
            button('Remove', `support_needs.${need.id}.remove`, () => removeItem('support_needs', need.id), { hidden: `support need ${i + 1}` })))))
        : emptyState('No support needs recorded.'),
      button('Add a support need', 'support_needs.add', () => addItem('support_needs', {
        id: newId(), kind: 'housing', description: '', referral_status: 'to_refer',
      }, 'description'), { secondary: false }),
    ];
  }

  function editDiversion() {
    const activities = state.draft.diversion;
    return [
      activities.length
        ? h('ol', { class: 'plan-items' }, activities.map((activity, i) => h('li', { class: 'plan-item' },
          h('fieldset', { class: 'plan-fieldset' },
            h('legend', { class: 'plan-fieldset__legend' }, `Activity ${i + 1}`),
            h('div', { class: 'plan-item__row' },
              field('Type', select(`diversion.${activity.id}.kind`, activity.kind, Object.entries(DIVERSION_KINDS), (v) => { activity.kind = v; })),
              field('Activity', textInput(`diversion.${activity.id}.activity`, activity.activity, (v) => { activity.activity = v; }), { className: 'plan-item__grow' })),
            h('div', { class: 'plan-item__row' },
              field('Sessions offered', numberInput(`diversion.${activity.id}.offered`, activity.sessions_offered, (v) => { activity.sessions_offered = v; }, { max: 500, empty: 0 })),
              field('Sessions attended', numberInput(`diversion.${activity.id}.attended`, activity.sessions_attended, (v) => { activity.sessions_attended = v; }, { max: 500, empty: 0 })))),
          h('div', { class: 'plan-item__tools' },
            itemComments('diversion', activity.id, `on activity ${i + 1}`),
            button('Remove', `diversion.${activity.id}.remove`, () => removeItem('diversion', activity.id), { hidden: `activity ${i + 1}` })))))
        : emptyState('No diversion activities.'),
      button('Add an activity', 'diversion.add', () => addItem('diversion', {
        id: newId(), kind: 'life_skills', activity: '', sessions_offered: 0, sessions_attended: 0,
      }, 'activity'), { secondary: false }),
    ];
  }

  const EDITORS = {
    goals: editGoals,
    vocational_profile: editProfile,
    actions: editActions,
    support_needs: editSupport,
    diversion: editDiversion,
  };

  /* --------------------------------------------------- read-only views -- */

  /** A section shown read-only; `withComments` adds the comment boxes. */
  function readOnly(key, content, { withComments = false } = {}) {
    const comment = (id, context) => (withComments ? commentBox(id, context) : null);
    const c = content;
    switch (key) {
      case 'goals':
        return c.goals.length
          ? h('ol', { class: 'plan-readonly' }, c.goals.map((g, i) => h('li', { class: 'plan-readonly__item' },
            h('p', { class: 'plan-readonly__text' }, g.text), comment(g.id, `on goal ${i + 1}`))))
          : h('p', { class: 'muted' }, 'No goals yet.');
      case 'vocational_profile': {
        const vp = c.vocational_profile;
        const row = (term, value) => h('div', { class: 'summary-list__row' }, h('dt', {}, term), h('dd', {}, value || h('span', { class: 'muted' }, '—')));
        return h('dl', { class: 'summary-list plan-profile' },
          row('Types of work wanted', vp.preferences.types.join(', ')),
          row('Where', vp.preferences.locations.join(', ')),
          row('Hours per week', vp.preferences.hours_per_week === null ? '' : String(vp.preferences.hours_per_week)),
          row('Skills', vp.skills.join(', ')),
          row('Work history', vp.work_history),
          row('What helps', vp.what_helps),
          row('What gets in the way', vp.what_gets_in_the_way));
      }
      case 'actions': {
        const now = today();
        return c.actions.length
          ? h('ol', { class: 'plan-readonly' }, c.actions.map((a, i) => h('li', { class: 'plan-readonly__item' },
            h('p', { class: 'plan-readonly__text' }, a.text),
            h('p', { class: 'plan-readonly__meta' },
              `Who: ${ownerName(a.owner_id)}`,
              a.due_on ? [' · Due by ', time(a.due_on)] : '',
              ' · ', badge(label(ACTION_STATUS, a.status), a.status === 'done' ? 'outcome-ok' : a.status === 'cancelled' ? 'inactive' : 'neutral'),
              a.status === 'open' && a.due_on && a.due_on < now ? [' ', badge('Overdue', 'outcome-bad')] : null),
            comment(a.id, `on action ${i + 1}`))))
          : h('p', { class: 'muted' }, 'No actions yet.');
      }
      case 'support_needs':
        return c.support_needs.length
          ? h('ol', { class: 'plan-readonly' }, c.support_needs.map((n, i) => h('li', { class: 'plan-readonly__item' },
            h('p', { class: 'plan-readonly__text' }, h('strong', {}, label(SUPPORT_KINDS, n.kind)), `: ${n.description}`),
            h('p', { class: 'plan-readonly__meta' }, 'Referral: ', badge(label(REFERRAL_STATUS, n.referral_status))),
            comment(n.id, `on support need ${i + 1}`))))
          : h('p', { class: 'muted' }, 'No support needs recorded.');
      case 'diversion':
        return c.diversion.length
          ? h('ol', { class: 'plan-readonly' }, c.diversion.map((d, i) => h('li', { class: 'plan-readonly__item' },
            h('p', { class: 'plan-readonly__text' }, h('strong', {}, label(DIVERSION_KINDS, d.kind)), `: ${d.activity}`),
            h('p', { class: 'plan-readonly__meta' }, `Attended ${d.sessions_attended} of ${d.sessions_offered} sessions offered`),
            comment(d.id, `on activity ${i + 1}`))))
          : h('p', { class: 'muted' }, 'No diversion activities.');
      default:
        return null;
    }
  }

  /* ------------------------------------------------------------ layout -- */

  const intros = {
    goals: isClient
      ? 'In your own words. You can add, change or remove your goals; your care team sees them straight away.'
      : `In ${firstName}’s own words: write them as ${firstName} says them.`,
    vocational_profile: isClient ? null : 'Job preferences, work history and skills, and what helps or gets in the way.',
    actions: isClient ? null : `What someone will do, by when. The owner can be anyone on the care team, or ${firstName}.`,
    support_needs: isClient ? null : 'Support from other services, and where each referral stands.',
    diversion: isClient ? null : 'Life-skills and vocational-skills activities offered instead of a sanction, with attendance.',
  };

  const sectionBadges = new Map(SECTIONS.map((key) => [key, badge('Unsaved changes', 'unsaved')]));
  const sectionsEl = h('div', { class: 'plan-sections' });

  function sectionEl(key) {
    const titleId = `plan-section-${key}`;
    const editable = canEdit(key);
    const marker = sectionBadges.get(key);
    return h('section', { class: ['plan-section', editable ? 'plan-section--editable' : null], 'aria-labelledby': titleId },
      h('div', { class: 'plan-section__head' }, h('h2', { id: titleId, tabindex: '-1' }, SECTION_TITLES[key]), marker),
      intros[key] ? h('p', { class: 'section__intro' }, intros[key]) : null,
      !editable ? h('p', { class: 'section__intro' }, 'Your care team keeps this part up to date. You can comment on anything.') : null,
      editable ? EDITORS[key]() : readOnly(key, state.draft, { withComments: true }),
      h('div', { class: 'plan-section__comments' }, commentBox(key, `on the ${SECTION_TITLES[key].toLowerCase()} section`)));
  }

  /** Rebuild the sections from the draft, keeping focus where it was. */
  function draw({ focusKey = null } = {}) {
    // A text control when it has a selection to keep (checked below), else any element.
    const active = /** @type {HTMLInputElement | null} */ (document.activeElement);
    const activeKey = active && sectionsEl.contains(active) && active.dataset ? active.dataset.key : null;
    const start = active && typeof active.selectionStart === 'number' ? active.selectionStart : null;
    const end = active && typeof active.selectionEnd === 'number' ? active.selectionEnd : null;
    sectionsEl.replaceChildren(...SECTIONS.map(sectionEl));
    drawBar();
    const key = focusKey || activeKey;
    const target = key ? /** @type {HTMLInputElement | null} */ (sectionsEl.querySelector(`[data-key="${CSS.escape(key)}"]`)) : null;
    if (target) {
      target.focus({ preventScroll: !focusKey });
      if (!focusKey && start !== null && typeof target.setSelectionRange === 'function') {
        try {
          target.setSelectionRange(Math.min(start, target.value.length), Math.min(end, target.value.length));
        } catch {
          // Not a text control after all.
        }
      }
    } else if (active && active !== document.body && active.isConnected && document.activeElement !== active) {
      active.focus({ preventScroll: true }); // a comment box, moved with the redraw
    }
  }

  /* ----------------------------------------------------------- the bar -- */

  const remoteNote = h('div', { class: 'notice notice--warning plan-bar__remote', role: 'status' });
  const statusLine = h('p', { class: 'plan-bar__status', role: 'status' });
  const saveButton = h('button', { type: 'button', class: 'button' }, isClient ? 'Save my goals' : 'Save plan');
  const discardButton = h('button', { type: 'button', class: 'button button--secondary' }, 'Discard changes');
  const bar = h('div', { class: 'plan-bar' },
    remoteNote,
    h('div', { class: 'plan-bar__row' }, statusLine, h('div', { class: 'button-row' }, saveButton, discardButton)));

  const dirtySections = () => changedSections(state.base.content, state.draft);

  function savedLine() {
    const { version, updated_by_name: by, updated_at: at } = state.base;
    if (!version) return 'Nothing has been saved in this plan yet.';
    return `Version ${version}, saved ${at ? formatDateTime(at) : ''}${by ? ` by ${by}` : ''}.`;
  }

  function drawBar() {
    const dirty = dirtySections();
    for (const [key, marker] of sectionBadges) marker.hidden = !dirty.includes(key);
    discardButton.hidden = dirty.length === 0 || state.saving;
    if (state.saving) {
      statusLine.textContent = 'Saving…';
      saveButton.setAttribute('aria-disabled', 'true');
    } else if (state.conflict) {
      saveButton.removeAttribute('aria-disabled');
      statusLine.textContent = 'Someone else saved first: choose “Re-apply my change” or “Use theirs” above.';
    } else {
      saveButton.removeAttribute('aria-disabled');
      statusLine.textContent = dirty.length
        ? `Unsaved changes to ${sectionList(dirty)}.`
        : state.message || savedLine();
    }
    bar.classList.toggle('plan-bar--dirty', dirty.length > 0);
    if (state.remote && dirty.length) {
      remoteNote.textContent = `${state.remote.name} saved a newer version of this plan just now `
        + `(${sectionList(state.remote.sections)}). Your unsaved changes are kept: when you save, `
        + 'you will see both versions and choose how to merge them.';
      remoteNote.hidden = false;
    } else {
      remoteNote.textContent = '';
      remoteNote.hidden = true;
    }
  }

  /** Called after every change to the draft. */
  function edited() {
    state.message = '';
    if (state.remote && !dirtySections().length && !state.saving) {
      applyRemote(state.remote); // the edits were undone: catch up now
      return;
    }
    drawBar();
  }

  /* ----------------------------------------------------------- errors -- */

  const summary = h('div', { class: 'error-summary', role: 'alert', tabindex: '-1' });
  const fieldErrors = {
    shown: [],
    clear() {
      for (const el of this.shown) {
        const wrapper = el.closest('.field');
        if (wrapper) {
          wrapper.classList.remove('field--error');
          const message = wrapper.querySelector(':scope > .field__error');
          if (message) message.remove();
        }
        el.removeAttribute('aria-invalid');
        if (el.dataset.describedby !== undefined) {
          if (el.dataset.describedby) el.setAttribute('aria-describedby', el.dataset.describedby);
          else el.removeAttribute('aria-describedby');
          delete el.dataset.describedby;
        }
      }
      this.shown = [];
    },
    set(key, message) {
      const el = sectionsEl.querySelector(`[data-key="${CSS.escape(key)}"]`);
      const wrapper = el && el.closest('.field');
      if (!el || !wrapper) return null;
      const errorId = `${el.id}-error`;
      wrapper.classList.add('field--error');
      el.before(h('p', { id: errorId, class: 'field__error' }, h('span', { class: 'visually-hidden' }, 'Error: '), message));
      el.dataset.describedby = el.getAttribute('aria-describedby') || '';
      el.setAttribute('aria-describedby', [el.dataset.describedby, errorId].filter(Boolean).join(' '));
      el.setAttribute('aria-invalid', 'true');
      this.shown.push(el);
      return el;
    },
  };

  function showProblems(problems, detail = 'There is a problem') {
    summary.replaceChildren(
      h('h2', { class: 'error-summary__title' }, detail),
      problems.length ? h('ul', { class: 'error-summary__list' }, problems.map(({ key, message }) => {
        const target = key ? fieldErrors.set(key, message) : null;
        if (!target) return h('li', {}, message);
        const link = h('a', { href: `#${target.id}` }, message);
        link.addEventListener('click', (event) => {
          event.preventDefault();
          target.focus();
        });
        return h('li', {}, link);
      })) : null);
    summary.focus();
  }

  function clearProblems() {
    summary.replaceChildren();
    fieldErrors.clear();
  }

  function validate(sections) {
    const problems = [];
    const d = state.draft;
    const whole = (v, max) => Number.isInteger(v) && v >= 0 && v <= max;
    if (sections.includes('goals')) {
      d.goals.forEach((g, i) => {
        if (!g.text.trim()) problems.push({ key: `goals.${g.id}.text`, message: `Goal ${i + 1}: write the goal, or remove it` });
      });
    }
    if (sections.includes('vocational_profile')) {
      const hours = d.vocational_profile.preferences.hours_per_week;
      if (hours !== null && !whole(hours, 80)) problems.push({ key: 'vp.hours', message: 'Hours per week must be a whole number from 0 to 80' });
    }
    if (sections.includes('actions')) {
      d.actions.forEach((a, i) => {
        if (!a.text.trim()) problems.push({ key: `actions.${a.id}.text`, message: `Action ${i + 1}: say what will be done, or remove the action` });
      });
    }
    if (sections.includes('support_needs')) {
      d.support_needs.forEach((n, i) => {
        if (!n.description.trim()) problems.push({ key: `support_needs.${n.id}.description`, message: `Support need ${i + 1}: say what is needed, or remove it` });
      });
    }
    if (sections.includes('diversion')) {
      d.diversion.forEach((a, i) => {
        if (!a.activity.trim()) problems.push({ key: `diversion.${a.id}.activity`, message: `Activity ${i + 1}: name the activity, or remove it` });
        if (!whole(a.sessions_offered, 500)) problems.push({ key: `diversion.${a.id}.offered`, message: `Activity ${i + 1}: sessions offered must be a whole number from 0 to 500` });
        if (!whole(a.sessions_attended, 500)) {
          problems.push({ key: `diversion.${a.id}.attended`, message: `Activity ${i + 1}: sessions attended must be a whole number from 0 to 500` });
        } else if (whole(a.sessions_offered, 500) && a.sessions_attended > a.sessions_offered) {
          problems.push({ key: `diversion.${a.id}.attended`, message: `Activity ${i + 1}: sessions attended cannot be more than sessions offered` });
        }
      });
    }
    return problems;
  }

  /* ------------------------------------------------------------ saving -- */

  async function save() {
    if (state.saving) return;
    clearProblems();
    const sections = dirtySections();
    if (!sections.length) {
      state.message = 'There are no changes to save.';
      drawBar();
      return;
    }
    const problems = validate(sections);
    if (problems.length) {
      showProblems(problems);
      return;
    }
    const sent = clone(state.draft);
    state.saving = true;
    drawBar();
    try {
      const { data, headers } = await api.request(`${clientPath}/plan`, {
        method: 'PUT', body: sent, headers: { 'If-Match': state.base.etag }, withHeaders: true,
      });
      if (!ctx.isCurrent()) return;
      state.saving = false;
      state.base = fromView(data, headers.get('ETag'));
      // Anything typed while the save was under way stays as an unsaved edit.
      if (same(state.draft, sent)) state.draft = clone(state.base.content);
      state.message = `Saved as version ${state.base.version}.`;
      if (state.remote && state.remote.version <= state.base.version) state.remote = null;
      if (state.remote && !dirtySections().length) {
        applyRemote(state.remote);
      } else {
        draw();
      }
      refreshHistory();
    } catch (failure) {
      if (!ctx.isCurrent()) return;
      state.saving = false;
      drawBar();
      if (failure && failure.status === 412) {
        await showConflict(failure);
      } else if (failure && failure.status === 422 && failure.errors && failure.errors.length) {
        showProblems(failure.errors.map((e) => ({ key: null, message: `${e.field ? `${e.field}: ` : ''}${e.message}` })),
          problemMessage(failure));
      } else {
        showProblems([], problemMessage(failure));
      }
    }
  }

  saveButton.addEventListener('click', () => {
    if (saveButton.getAttribute('aria-disabled') === 'true') return;
    const panel = conflictHolder.firstElementChild;
    if (state.conflict && panel) {
      panel.focus();
      panel.scrollIntoView({ block: 'start' });
      return;
    }
    save();
  });
  discardButton.addEventListener('click', () => {
    if (state.conflict) {
      takeTheirs();
      return;
    }
    clearProblems();
    state.draft = clone(state.base.content);
    state.message = 'Your unsaved changes were discarded.';
    if (state.remote) applyRemote(state.remote);
    else draw();
    saveButton.focus();
  });

  /* ---------------------------------------------------------- conflict -- */

  const conflictHolder = h('div', {});

  async function showConflict(failure) {
    const current = failure.problem && failure.problem.current;
    if (!current) {
      showProblems([], problemMessage(failure));
      return;
    }
    const theirs = {
      version: Number(current.version) || 0,
      content: normalise(current.content),
      etag: (failure.headers && failure.headers.get('ETag')) || `"${Number(current.version) || 0}"`,
      updated_by_name: null,
      updated_at: null,
    };
    let versions = [];
    try {
      const all = await api.request(`${clientPath}/plan/history`, { signal: ctx.signal });
      versions = (Array.isArray(all) ? all : []).filter((v) => v.version > state.base.version && v.version <= theirs.version);
    } catch {
      // Who saved is a nicety; the comparison works without it.
    }
    if (!ctx.isCurrent()) return;
    const latest = versions[versions.length - 1];
    if (latest) {
      theirs.updated_by_name = latest.changed_by_name;
      theirs.updated_at = latest.changed_at;
    }
    state.conflict = { theirs, versions };
    state.remote = null;
    drawBar();
    drawConflict();
  }

  function drawConflict() {
    const { conflict } = state;
    if (!conflict) {
      conflictHolder.replaceChildren();
      return;
    }
    const { theirs, versions } = conflict;
    const mine = dirtySections();
    const theirsChanged = changedSections(state.base.content, theirs.content);
    const both = mine.filter((k) => theirsChanged.includes(k));
    const who = [...new Set(versions.map((v) => v.changed_by_name || 'Someone'))];
    const titleId = uid('conflict');
    const reapply = h('button', { type: 'button', class: 'button' }, 'Re-apply my change');
    const useTheirs = h('button', { type: 'button', class: 'button button--secondary' }, 'Use theirs');
    reapply.addEventListener('click', () => reapplyMine());
    useTheirs.addEventListener('click', () => takeTheirs());

    const sections = SECTIONS.filter((k) => mine.includes(k) || theirsChanged.includes(k)).map((key) => {
      let note;
      let columns;
      if (both.includes(key)) {
        note = 'You both changed this section. If you re-apply your change, your version replaces theirs here.';
        columns = [
          h('div', { class: 'plan-compare__col' }, h('p', { class: 'plan-compare__label' }, 'Their version'), readOnly(key, theirs.content)),
          h('div', { class: 'plan-compare__col plan-compare__col--mine' }, h('p', { class: 'plan-compare__label' }, 'Your version'), readOnly(key, state.draft)),
        ];
      } else if (theirsChanged.includes(key)) {
        note = 'Changed by them. You did not change this section, so their version is kept.';
        columns = [h('div', { class: 'plan-compare__col' }, h('p', { class: 'plan-compare__label' }, 'Their version'), readOnly(key, theirs.content))];
      } else {
        note = 'Changed by you only. Re-applying your change keeps your version of this section.';
        columns = [h('div', { class: 'plan-compare__col plan-compare__col--mine' }, h('p', { class: 'plan-compare__label' }, 'Your version'), readOnly(key, state.draft))];
      }
      return h('div', { class: 'plan-compare' },
        h('h3', {}, SECTION_TITLES[key]),
        h('p', { class: 'plan-compare__note' }, note),
        h('div', { class: 'plan-compare__cols' }, columns));
    });

    const panel = h('section', { class: 'plan-conflict', 'aria-labelledby': titleId, tabindex: '-1' },
      h('h2', { id: titleId }, 'Someone else saved the plan while you were editing'),
      h('p', {},
        `${who.length ? who.join(' and ') : 'Someone'} saved version ${theirs.version}`,
        theirs.updated_at ? [' at ', time(theirs.updated_at, { withTime: true })] : '',
        '. Nothing has been overwritten: your changes are still here, not yet saved.'),
      versions.length ? h('ul', { class: 'plan-conflict__versions' }, versions.map((v) => h('li', {},
        `Version ${v.version} by ${v.changed_by_name || 'someone'}: ${sectionList(v.sections || [])}`))) : null,
      sections,
      h('div', { class: 'button-row plan-conflict__actions' }, reapply, useTheirs),
      h('p', { class: 'field__hint' },
        `“Re-apply my change” saves their version with your changes to ${sectionList(mine).toLowerCase() || 'nothing'} on top. `
        + '“Use theirs” drops your unsaved changes.'));
    conflictHolder.replaceChildren(panel);
    panel.focus();
    panel.scrollIntoView({ block: 'start' });
  }

  function reapplyMine() {
    const { theirs } = state.conflict;
    const merged = clone(theirs.content);
    for (const key of dirtySections()) merged[key] = clone(state.draft[key]);
    state.base = theirs;
    state.draft = merged;
    state.conflict = null;
    drawConflict();
    draw();
    saveButton.focus();
    save();
  }

  function takeTheirs() {
    const { theirs } = state.conflict;
    state.base = theirs;
    state.draft = clone(theirs.content);
    state.conflict = null;
    state.message = `Showing version ${theirs.version}${theirs.updated_by_name ? `, saved by ${theirs.updated_by_name}` : ''}. Your changes were discarded.`;
    drawConflict();
    draw();
    refreshHistory();
    saveButton.focus();
  }

  /* -------------------------------------------------------------- live -- */

  function applyRemote(update) {
    state.base = {
      version: update.version,
      content: update.content,
      etag: `"${update.version}"`,
      updated_by_name: update.name,
      updated_at: update.at,
    };
    state.draft = clone(update.content);
    state.remote = null;
    state.message = `Updated by ${update.name} just now.`;
    draw();
    refreshHistory();
  }

  cleanups.push(rt.on('plan.updated', (frame) => {
    if (!frame || String(frame.client_id) !== String(client.id)) return;
    const version = Number(frame.version) || 0;
    if (version <= state.base.version) return;
    if (state.remote && version <= state.remote.version) return;
    const mineNow = state.saving && String(frame.updated_by) === String(ctx.user.id);
    if (mineNow) return; // our own save: its response brings the new version
    const update = {
      version,
      content: normalise(frame.content),
      name: String(frame.updated_by) === String(ctx.user.id) ? 'you (in another window)' : frame.updated_by_name || 'Someone',
      sections: Array.isArray(frame.sections) ? frame.sections : [],
      at: new Date().toISOString(),
    };
    if (!dirtySections().length && !state.saving && !state.conflict) applyRemote(update);
    else {
      // Several saves while we edit: say every section they changed.
      if (state.remote) update.sections = SECTIONS.filter((k) => update.sections.includes(k) || state.remote.sections.includes(k));
      state.remote = update;
      drawBar();
    }
  }));

  cleanups.push(rt.on('plan.comment', (frame) => {
    if (!frame || String(frame.client_id) !== String(client.id)) return;
    addComment(frame.comment);
  }));

  // After a reconnection, catch up on anything missed.
  cleanups.push(rt.on('connected', async ({ resumed }) => {
    if (!resumed) return;
    try {
      const [fresh, all] = await Promise.all([
        api.request(`${clientPath}/plan`, { signal: ctx.signal, withHeaders: true }),
        api.request(`${clientPath}/plan/comments`, { signal: ctx.signal }),
      ]);
      if (!ctx.isCurrent()) return;
      for (const c of Array.isArray(all) ? all : []) addComment(c);
      const view = fromView(fresh.data, fresh.headers.get('ETag'));
      if (view.version <= state.base.version) return;
      const update = {
        version: view.version, content: view.content, name: view.updated_by_name || 'Someone', sections: changedSections(state.base.content, view.content), at: view.updated_at,
      };
      if (!dirtySections().length && !state.saving && !state.conflict) applyRemote(update);
      else {
        state.remote = update;
        drawBar();
      }
    } catch {
      // The next update or reload will do.
    }
  }));

  const beforeUnload = (event) => {
    if (dirtySections().length) {
      event.preventDefault();
      event.returnValue = '';
    }
  };
  window.addEventListener('beforeunload', beforeUnload);
  cleanups.push(() => window.removeEventListener('beforeunload', beforeUnload));

  /* ----------------------------------------------------------- history -- */

  const historyBody = h('div', { class: 'plan-history__body' });
  const historyDetails = h('details', { class: 'details plan-history' },
    h('summary', {}, 'Show version history'), historyBody);
  let historyLoading = null;

  async function loadHistory() {
    if (historyLoading) return historyLoading;
    historyLoading = (async () => {
      if (!historyBody.childElementCount) historyBody.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
      try {
        const all = await api.request(`${clientPath}/plan/history`, { signal: ctx.signal });
        if (!ctx.isCurrent()) return;
        const versions = (Array.isArray(all) ? all : []).slice().reverse();
        historyBody.replaceChildren(versions.length
          ? h('ol', { class: 'plan-versions', reversed: true }, versions.map((v) => {
            const show = h('details', { class: 'details plan-version__content' },
              h('summary', {}, `Show version ${v.version}`));
            show.addEventListener('toggle', () => {
              if (!show.open || show.childElementCount > 1) return;
              const content = normalise(v.content);
              show.append(h('div', { class: 'plan-version__sections' }, SECTIONS.map((key) => h('div', { class: 'plan-version__section' },
                h('h3', {}, SECTION_TITLES[key]), readOnly(key, content)))));
            });
            return h('li', { class: 'plan-version' },
              h('p', { class: 'plan-version__title' },
                h('strong', {}, `Version ${v.version}`), ' · ', time(v.changed_at, { withTime: true }),
                ' · ', v.changed_by_name || 'Someone'),
              h('p', { class: 'plan-version__sections-changed' }, `Changed: ${sectionList(v.sections || []) || 'nothing'}`),
              show);
          }))
          : h('p', { class: 'muted' }, 'No versions have been saved yet.'));
      } catch (failure) {
        if (!ctx.isCurrent() || (failure && failure.name === 'AbortError')) return;
        historyBody.replaceChildren(h('p', { class: 'field__error' }, `The history could not be loaded. ${problemMessage(failure)}`));
      } finally {
        historyLoading = null;
      }
    })();
    return historyLoading;
  }

  function refreshHistory() {
    if (historyDetails.open) loadHistory();
  }
  historyDetails.addEventListener('toggle', () => {
    if (historyDetails.open) loadHistory();
  });
  const historyTitleId = uid('history');

  /* ------------------------------------------------------------- build -- */

  draw();
  const recordHref = isClient ? '#/my-record' : `#/clients/${encodeURIComponent(client.id)}`;
  return page(
    h('nav', { class: 'breadcrumbs', 'aria-label': 'Breadcrumb' },
      h('ol', {},
        isClient
          ? h('li', {}, h('a', { href: recordHref }, 'My record'))
          : [h('li', {}, h('a', { href: '#/clients' }, 'Clients')), h('li', {}, h('a', { href: recordHref }, name))],
        h('li', { 'aria-current': 'page' }, isClient ? 'Your plan' : 'Plan'))),
    h('div', { class: 'page-header' },
      heading(isClient ? 'Your plan' : `Plan for ${name}`),
      h('p', { class: 'lead' }, isClient
        ? 'What you are working towards, and what you and your care team have agreed to do.'
        : `Shared by ${firstName} and the care team. Each save is kept as a version, and everyone viewing the plan sees it at once.`)),
    conflictHolder,
    summary,
    sectionsEl,
    bar,
    h('section', { class: 'section plan-history-section', 'aria-labelledby': historyTitleId },
      h('h2', { id: historyTitleId }, 'History'),
      h('p', { class: 'section__intro' }, 'Every saved version: who saved it, when, and which sections changed.'),
      historyDetails),
  );
}
