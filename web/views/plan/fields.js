// The plan's form controls. Each carries a data-key naming what it edits
// ("goals.<id>.text"), so a redraw can put focus back where it was and an
// error can find its field; each writes into the draft as the person types
// and then says so (`edited`), so the save bar stays true.

import { h, uid } from '../../ui.js';

function control(tag, key, props, ...children) {
  return h(tag, { id: uid('plan'), dataset: { key }, ...props }, ...children);
}

/**
 * @param {string} labelText
 * @param {HTMLElement} input
 * @param {{ hint?: string, className?: string }} [options]
 */
export function field(labelText, input, { hint, className } = {}) {
  const hintId = hint ? `${input.id}-hint` : null;
  if (hintId) input.setAttribute('aria-describedby', hintId);
  return h('div', { class: ['field', className] },
    h('label', { for: input.id, class: 'field__label' }, labelText),
    hint ? h('p', { id: hintId, class: 'field__hint' }, hint) : null,
    input);
}

/**
 * @param {string} text
 * @param {string} key
 * @param {() => void} onClick
 * @param {{ secondary?: boolean, small?: boolean, hidden?: string }} [options]  hidden: words only a screen reader hears after the text
 */
export function button(text, key, onClick, { secondary = true, small = true, hidden: hiddenText } = {}) {
  const el = h('button', {
    type: 'button',
    class: ['button', secondary ? 'button--secondary' : null, small ? 'button--small' : null],
    dataset: { key },
  }, text, hiddenText ? h('span', { class: 'visually-hidden' }, ` ${hiddenText}`) : null);
  el.addEventListener('click', onClick);
  return el;
}

/**
 * Controls that write into the draft, then call `edited`.
 * @param {() => void} edited
 */
export function draftControls(edited) {
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

  /** Pounds and pence typed, whole pence kept (what is not an amount is kept as typed, for
   * the check before saving to name). */
  function poundsInput(key, pence, onValue) {
    const el = control('input', key, {
      type: 'number', inputmode: 'decimal', min: '0.01', max: '1000', step: '0.01', class: 'input input--number',
    });
    el.value = Number.isInteger(pence) ? (pence / 100).toFixed(2) : '';
    el.addEventListener('input', () => {
      const raw = el.value.trim();
      onValue(raw === '' ? null : /^\d+(\.\d{1,2})?$/.test(raw) ? Math.round(Number(raw) * 100) : raw);
      edited();
    });
    return el;
  }

  /**
   * A checkbox for each option in a fieldset; the chosen values in the options' order.
   * @param {string} key
   * @param {string} legend
   * @param {string[][]} options  [value, text]
   * @param {string[]} values
   * @param {(values: string[]) => void} onValue
   * @param {{ hint?: string }} [options_]
   */
  function checkboxes(key, legend, options, values, onValue, { hint } = /** @type {{ hint?: string }} */ ({})) {
    const chosen = new Set(values);
    const hintId = hint ? uid('plan-hint') : null;
    const boxes = options.map(([value, text]) => {
      const box = control('input', `${key}.${value}`, { type: 'checkbox', class: 'checkbox__input', value, checked: chosen.has(value) });
      box.addEventListener('change', () => {
        if (box.checked) chosen.add(value); else chosen.delete(value);
        onValue(options.map(([v]) => v).filter((v) => chosen.has(v)));
        edited();
      });
      return h('div', { class: 'checkbox' }, box, h('label', { for: box.id, class: 'checkbox__label' }, text));
    });
    return h('fieldset', { class: 'field plan-fieldset plan-grid__wide', 'aria-describedby': hintId },
      h('legend', { class: 'field__label' }, legend),
      hint ? h('p', { id: hintId, class: 'field__hint' }, hint) : null,
      h('div', { class: 'checkbox-grid' }, boxes));
  }

  return { textArea, textInput, numberInput, poundsInput, checkboxes, listArea, select, dateInput };
}
