// Form fields shared by intake and the record's administration panels
// (taking a referral, adding a referral, care team, consent), the staff
// those panels offer to put on a client's care team, and how those panels
// send a form, act from a button and reload after a change.

import { request } from '../api.js';
import {
  h, uid, REFERRAL_SOURCE_LABELS, ROLE_LABELS, applyFieldErrors, problemMessage,
} from '../ui.js';

/** The roles that take referrals and join care teams (the server's CLINICAL_ROLES). */
export const CLINICAL_ROLES = ['peer_keyworker', 'therapist', 'employment_specialist', 'supervisor'];

export const isClinical = (user) => Boolean(user) && CLINICAL_ROLES.includes(user.role);

/** Today as YYYY-MM-DD in the person's own time zone (a referral's date is a calendar date). */
export function today() {
  const now = new Date();
  const pad = (n) => String(n).padStart(2, '0');
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

/**
 * A labelled field holding any control, with an error slot like ui.textField's.
 * @param {string} labelText
 * @param {any} control  an <input>, <select> or <textarea>
 * @param {{ hint?: string }} [options]
 */
function field(labelText, control, { hint } = {}) {
  const id = control.id || uid(control.name || 'field');
  control.id = id;
  const hintId = hint ? `${id}-hint` : null;
  const errorId = `${id}-error`;
  if (hintId) control.setAttribute('aria-describedby', hintId);
  const error = h('p', { id: errorId, class: 'field__error', hidden: true });
  const element = h('div', { class: 'field' },
    h('label', { for: id, class: 'field__label' }, labelText),
    hint ? h('p', { id: hintId, class: 'field__hint' }, hint) : null,
    error,
    control);
  return {
    element,
    input: control,
    setError(message) {
      error.replaceChildren(h('span', { class: 'visually-hidden' }, 'Error: '), message);
      error.hidden = false;
      element.classList.add('field--error');
      control.setAttribute('aria-invalid', 'true');
      control.setAttribute('aria-describedby', [hintId, errorId].filter(Boolean).join(' '));
    },
    clearError() {
      error.replaceChildren();
      error.hidden = true;
      element.classList.remove('field--error');
      control.removeAttribute('aria-invalid');
      if (hintId) control.setAttribute('aria-describedby', hintId);
      else control.removeAttribute('aria-describedby');
    },
  };
}

/**
 * options: [[value, text], …]; `placeholder` adds a first empty choice.
 * @param {{ label: string, name: string, options: [string, string][], placeholder?: string, hint?: string }} options
 */
export function selectField({ label: labelText, name, options, placeholder, hint }) {
  const select = h('select', { name, class: 'select', required: true },
    placeholder ? h('option', { value: '' }, placeholder) : null,
    options.map(([value, text]) => h('option', { value }, text)));
  return field(labelText, select, { hint });
}

export function textareaField({ label: labelText, name, maxlength, hint, required = true }) {
  const textarea = h('textarea', { name, class: 'input textarea', rows: '3', maxlength, required });
  return field(labelText, textarea, { hint });
}

export function dateField({ label: labelText, name, value }) {
  return field(labelText, h('input', { name, type: 'date', class: 'input input--date', value, required: true }));
}

/**
 * The programme's eligibility questions (GET /eligibility-questions), each answered yes or no.
 * Answering none leaves the referral's eligibility "not asked"; answering some but not all is
 * refused here as the server would. Returns { element, read() → answers, null, or false
 * (errors shown), reset() }.
 * @param {{ signal?: AbortSignal }} ctx
 */
export function eligibilityFields(ctx) {
  const error = h('p', { class: 'field__error', role: 'alert', hidden: true });
  const list = h('div', { class: 'eligibility__questions' }, h('p', { role: 'status' }, 'Loading the eligibility questions…'));
  /** @type {{ key: string, yes: HTMLInputElement, no: HTMLInputElement, group: HTMLElement }[]} */
  let questions = [];
  const element = h('fieldset', { class: 'fieldset eligibility' },
    h('legend', { class: 'fieldset__legend' }, 'Eligibility'),
    h('p', { class: 'field__hint' }, 'Ask each question, or leave them all unanswered if they were not asked. An ineligible referral is still recorded.'),
    error, list);
  request('/api/v1/eligibility-questions', { signal: ctx.signal })
    .then((found) => {
      questions = found.map((q) => {
        const name = uid(`eligibility-${q.key}`);
        const yes = h('input', { type: 'radio', name, value: 'yes', id: `${name}-yes` });
        const no = h('input', { type: 'radio', name, value: 'no', id: `${name}-no` });
        const group = h('fieldset', { class: 'fieldset fieldset--inline' },
          h('legend', { class: 'field__label' }, q.text),
          h('div', { class: 'radios' },
            h('div', { class: 'radio' }, yes, h('label', { for: yes.id }, 'Yes')),
            h('div', { class: 'radio' }, no, h('label', { for: no.id }, 'No'))));
        return { key: q.key, yes, no, group };
      });
      list.replaceChildren(...questions.map((q) => q.group));
    })
    .catch((failure) => {
      if (failure && failure.name === 'AbortError') return;
      list.replaceChildren(h('p', { class: 'muted' }, 'The eligibility questions could not be loaded; the referral can be taken without them.'));
    });
  return {
    element,
    read() {
      error.hidden = true;
      const answered = questions.filter((q) => q.yes.checked || q.no.checked);
      if (!answered.length) return null;
      if (answered.length !== questions.length) {
        error.replaceChildren(h('span', { class: 'visually-hidden' }, 'Error: '), 'Answer every eligibility question, or none');
        error.hidden = false;
        return false;
      }
      return Object.fromEntries(questions.map((q) => [q.key, q.yes.checked]));
    },
    reset() {
      for (const q of questions) { q.yes.checked = false; q.no.checked = false; }
      error.hidden = true;
    },
  };
}

/**
 * A referral's source, date and reason (POST /clients and POST /clients/{id}/referrals), and,
 * given the router context, the eligibility questions.
 * Returns { elements, fields, read() → body or null (errors shown), reset() }.
 * @param {{ signal?: AbortSignal } | null} [ctx]
 */
export function referralFields(ctx = null) {
  const source = selectField({
    label: 'Referred by',
    name: 'source',
    placeholder: 'Choose a source',
    options: Object.entries(REFERRAL_SOURCE_LABELS),
  });
  const referredOn = dateField({ label: 'Referred on', name: 'referred_on', value: today() });
  const reason = textareaField({
    label: 'Reason for referral', name: 'reason', maxlength: '2000',
    hint: 'What the referrer said, and what the person wants help with.',
  });
  const eligibility = ctx ? eligibilityFields(ctx) : null;
  const fields = { source, referred_on: referredOn, reason };
  return {
    elements: [source.element, referredOn.element, reason.element, eligibility ? eligibility.element : null],
    fields,
    read() {
      let ok = true;
      for (const f of Object.values(fields)) f.clearError();
      if (!source.input.value) { source.setError('Choose who referred them'); ok = false; }
      if (!referredOn.input.value) { referredOn.setError('Enter the date of the referral'); ok = false; }
      if (!reason.input.value.trim()) { reason.setError('Enter the reason for the referral'); ok = false; }
      const answers = eligibility ? eligibility.read() : null;
      if (answers === false) ok = false;
      if (!ok) return null;
      const body = { source: source.input.value, referred_on: referredOn.input.value, reason: reason.input.value.trim() };
      return answers ? { ...body, eligibility: answers } : body;
    },
    reset() {
      source.input.value = '';
      referredOn.input.value = today();
      reason.input.value = '';
      if (eligibility) eligibility.reset();
      for (const f of Object.values(fields)) f.clearError();
    },
  };
}

/** @returns {[string, string][]} */
export const roleOptions = () => CLINICAL_ROLES.map((role) => [role, ROLE_LABELS[role]]);

/**
 * @typedef {object} StaffCandidate
 * @property {string} id
 * @property {string} name
 * @property {string} role
 */

/**
 * The staff who could join a client's care team, by name: the members of the client's team
 * (partners' staff among them) and the active people of one's own organisation, each once.
 * Either list may be refused to the reader; only when both are does this fail. Callers keep
 * those of the roles they offer and not on the care team already; the server decides in the end.
 * @param {{ team_id: string }} client
 * @param {{ signal?: AbortSignal }} options
 * @returns {Promise<StaffCandidate[]>}
 */
export async function careTeamCandidates(client, { signal }) {
  const [team, staff] = await Promise.allSettled([
    request(`/api/v1/teams/${encodeURIComponent(client.team_id)}/members`, { signal }),
    request('/api/v1/users', { query: { limit: 100 }, signal }),
  ]);
  if (team.status === 'rejected' && staff.status === 'rejected') throw team.reason;
  const people = new Map();
  for (const m of team.status === 'fulfilled' ? team.value : []) {
    people.set(m.user_id, { id: m.user_id, name: m.display_name, role: m.role });
  }
  // A deactivated account can join no care team (the server refuses it), team member or not.
  for (const u of staff.status === 'fulfilled' ? (staff.value.items || []) : []) {
    if (u.is_active) people.set(u.id, { id: u.id, name: u.display_name, role: u.role });
    else people.delete(u.id);
  }
  return [...people.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Send a panel's form: `send` makes the request and shows what follows. Meanwhile the submit
 * button is busy; a refusal is shown beside `fields` (problem field name → field) or, for the
 * rest, above the form, which takes the focus so a screen reader hears it.
 * @param {{
 *   submit: { setBusy: (busy: boolean) => void },
 *   errors: { show: (error: any, unmatched?: any) => void, element: HTMLElement },
 *   fields: Record<string, any>,
 *   send: () => Promise<void>,
 * }} options
 */
export async function sendForm({ submit, errors, fields, send }) {
  submit.setBusy(true);
  try {
    await send();
  } catch (error) {
    if (error.name === 'AbortError') return;
    errors.show(error, applyFieldErrors(error, fields));
    errors.element.focus();
  } finally {
    submit.setBusy(false);
  }
}

/**
 * A small button for one change to a row of a panel, doing `act` once at a time: it is marked
 * aria-disabled while the change is made (a disabled button would lose the focus); a refusal is
 * said in `failure` and the button offered again.
 * @param {import('../app.js').ViewContext} ctx
 * @param {{ text: string, label: string, className?: string, failure: HTMLElement,
 *   act: () => Promise<void> }} options
 */
export function rowActionButton(ctx, { text, label, className, failure, act }) {
  const button = h('button', {
    type: 'button', class: ['button button--small button--secondary', className], 'aria-label': label,
  }, text);
  button.addEventListener('click', async () => {
    if (button.getAttribute('aria-disabled') === 'true') return;
    button.setAttribute('aria-disabled', 'true');
    failure.textContent = '';
    try {
      await act();
    } catch (error) {
      if (error.name === 'AbortError' || !ctx.isCurrent()) return;
      failure.textContent = problemMessage(error);
      button.removeAttribute('aria-disabled');
    }
  });
  return button;
}

/**
 * Reload what a panel shows after a change made in it, and draw it again. A change can end one's
 * own access to the record (leaving its care team, withdrawing one's own organisation's consent):
 * then the reload is refused, and the panel says why in `failure` and shows nothing more.
 * @template T
 * @param {import('../app.js').ViewContext} ctx
 * @param {{ load: () => Promise<T>, failure: HTMLElement, body: HTMLElement,
 *   draw: (loaded: T) => void }} options
 */
export async function reloadPanel(ctx, { load, failure, body, draw }) {
  let loaded;
  try {
    loaded = await load();
  } catch (error) {
    if (error.name === 'AbortError' || !ctx.isCurrent()) return;
    failure.textContent = problemMessage(error);
    body.replaceChildren();
    return;
  }
  if (ctx.isCurrent()) draw(loaded);
}
