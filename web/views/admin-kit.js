// Pieces the administration views share: a labelled select, a form that shows the server's
// refusal in the problem's own words, and the organisation's people in full.

import { request } from '../api.js';
import { h, uid, errorArea, submitButton, applyFieldErrors, notice } from '../ui.js';

export const CLINICAL_ROLES = ['peer_keyworker', 'therapist', 'employment_specialist', 'supervisor'];

/**
 * A labelled <select>. options: [{ value, text }].
 * @param {{ label: string, name: string, options: { value: string, text: string }[], value?: string, hint?: string, required?: boolean }} options
 */
export function selectField({ label: labelText, name, options, value, hint, required = true }) {
  const id = uid(name);
  const hintId = hint ? `${id}-hint` : null;
  const select = h('select', { id, name, class: 'select', required, 'aria-describedby': hintId || undefined },
    options.map((o) => h('option', { value: o.value, selected: o.value === value }, o.text)));
  const element = h('div', { class: 'field' },
    h('label', { for: id, class: 'field__label' }, labelText),
    hint ? h('p', { id: hintId, class: 'field__hint' }, hint) : null,
    select);
  return { element, input: select };
}

/** A labelled checkbox. */
export function checkboxField({ label: labelText, name, checked }) {
  const id = uid(name);
  const input = h('input', { id, name, type: 'checkbox', class: 'checkbox__input', checked: Boolean(checked) });
  return { element: h('div', { class: 'checkbox' }, input, h('label', { for: id, class: 'checkbox__label' }, labelText)), input };
}

/**
 * A form whose submission calls `action()`; a refusal is shown in the server's own words (and
 * field errors next to `fields`), success as `done(result)`'s message.
 * Returns { element, errors }.
 */
export function actionForm({ label: formLabel, children, buttonText, busyText, action, done, fields = {}, ctx }) {
  const errors = errorArea();
  const status = h('div', { class: 'admin-form__status' });
  const submit = submitButton(buttonText, { busyText });
  const form = h('form', { class: 'form admin-form', novalidate: true, 'aria-label': formLabel },
    errors.element, status, ...children, h('div', { class: 'form__actions' }, submit.element));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (submit.busy) return;
    errors.clear();
    status.replaceChildren();
    Object.values(fields).forEach((f) => f.clearError && f.clearError());
    submit.setBusy(true);
    try {
      const result = await action();
      if (ctx && !ctx.isCurrent()) return;
      const message = done ? await done(result) : null;
      if (message) status.replaceChildren(notice(message, 'success'));
    } catch (error) {
      if (error && error.name === 'AbortError') return;
      const unmatched = applyFieldErrors(error, fields);
      errors.show(error, unmatched);
      errors.element.focus();
    } finally {
      submit.setBusy(false);
    }
  });
  return { element: form, errors };
}

/**
 * Every account of the organisation (all pages).
 * @param {{ signal?: AbortSignal }} [options]
 */
export async function everyone({ signal } = {}) {
  const people = [];
  for (let offset = 0; ; ) {
    const page = await request('/api/v1/users', { query: { limit: 200, offset }, signal });
    people.push(...page.items);
    offset += page.items.length;
    if (!page.items.length || offset >= page.total) return people;
  }
}
