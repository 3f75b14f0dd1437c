// Small DOM and presentation helpers shared by the views.
//
// Everything here builds elements with createElement/textContent. Nothing
// ever assigns HTML strings, so data from the API cannot become markup.

/* ------------------------------------------------------------------ DOM -- */

const FORBIDDEN_PROPS = new Set(['innerHTML', 'outerHTML', 'style', 'srcdoc']);

/**
 * Create an element.
 *   h('a', { href: '#/clients', class: 'link' }, 'Clients')
 * Props: `class` (string or array), `text`, `dataset`, `on<Event>` handlers,
 * booleans (true → empty attribute, false/null/undefined → omitted) and
 * any other attribute. Children may be nodes, strings, numbers or arrays.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  setProps(el, props);
  appendChildren(el, children);
  return el;
}

function setProps(el, props) {
  for (const [key, value] of Object.entries(props || {})) {
    if (FORBIDDEN_PROPS.has(key)) throw new Error(`Refusing to set ${key}`);
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') {
      el.className = Array.isArray(value) ? value.filter(Boolean).join(' ') : String(value);
    } else if (key === 'text') {
      el.textContent = String(value);
    } else if (key === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (value === true) {
      el.setAttribute(key, '');
    } else {
      el.setAttribute(key, String(value));
    }
  }
}

function appendChildren(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false || child === true) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

let idCounter = 0;
/** A document-unique id with a readable prefix. */
export function uid(prefix = 'id') {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

/** Keep class-name fragments derived from data to a safe alphabet. */
function token(value) {
  return /^[a-z0-9_-]+$/i.test(String(value)) ? String(value).toLowerCase() : 'unknown';
}

/* --------------------------------------------------------------- labels -- */

export const ROLE_LABELS = {
  peer_keyworker: 'Peer keyworker',
  therapist: 'Therapist',
  employment_specialist: 'Employment specialist',
  supervisor: 'Supervisor',
  admin: 'Administrator',
  client: 'Client',
};

export const STATUS_LABELS = {
  referred: 'Referred',
  active: 'Active',
  in_work: 'In work',
  closed: 'Closed',
};

export const PURPOSE_LABELS = {
  care: 'Care',
  employment_sharing: 'Employment sharing',
  evaluation: 'Evaluation',
};

export const CONSENT_STATE_LABELS = {
  granted: 'Granted',
  withdrawn: 'Withdrawn',
};

export const ORGANISATION_KIND_LABELS = {
  nhs_trust: 'NHS trust',
  employment_provider: 'Employment provider',
  local_authority: 'Local authority',
  jobcentre: 'Jobcentre Plus / DWP',
  voluntary_sector: 'Voluntary sector',
};

export const REFERRAL_SOURCE_LABELS = {
  jobcentre: 'Jobcentre',
  talking_therapies: 'NHS Talking Therapies',
  self: 'Self-referral',
  other: 'Other',
};

/** The arms of the randomised evaluation (docs/evaluation.md); reports also count those in none. */
export const ARM_LABELS = {
  ips: 'IPS',
  treatment_as_usual: 'Treatment as usual',
  not_allocated: 'Not in the trial',
};

/** "some_value" → "Some value" for codes we have no label for. */
export function humanise(value) {
  if (value === null || value === undefined || value === '') return '';
  const text = String(value).replace(/_/g, ' ');
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export function label(map, value) {
  return Object.hasOwn(map, value) ? map[value] : humanise(value);
}

export const roleLabel = (role) => label(ROLE_LABELS, role);

/* ---------------------------------------------------------------- dates -- */

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const dateFormat = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', year: 'numeric' });
const dateFormatUtc = new Intl.DateTimeFormat('en-GB', {
  day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC',
});
const dateTimeFormat = new Intl.DateTimeFormat('en-GB', {
  day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit',
});

function parseDate(value) {
  if (!value) return null;
  const d = DATE_ONLY.test(value) ? new Date(`${value}T00:00:00Z`) : new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

export function formatDate(value) {
  const d = parseDate(value);
  if (!d) return value ? String(value) : '';
  return DATE_ONLY.test(value) ? dateFormatUtc.format(d) : dateFormat.format(d);
}

export function formatDateTime(value) {
  const d = parseDate(value);
  if (!d) return value ? String(value) : '';
  return DATE_ONLY.test(value) ? dateFormatUtc.format(d) : dateTimeFormat.format(d);
}

/** A <time> element, or an em dash when there is no value. */
export function time(value, { withTime = false } = {}) {
  if (!value) return h('span', { class: 'muted' }, '—');
  return h('time', { datetime: String(value) }, withTime ? formatDateTime(value) : formatDate(value));
}

/* --------------------------------------------------------------- badges -- */

export function badge(text, variant = 'neutral') {
  return h('span', { class: ['badge', `badge--${token(variant)}`] }, text);
}

export function statusBadge(status) {
  return badge(label(STATUS_LABELS, status), `status-${token(status)}`);
}

export function consentBadge(state) {
  return badge(label(CONSENT_STATE_LABELS, state), `consent-${token(state)}`);
}

/* -------------------------------------------------------- page furniture -- */

/**
 * The page's <h1>. The router focuses it after each navigation.
 * @param {string} text
 * @param {{ level?: number, id?: string }} [options]
 */
export function heading(text, { level = 1, id } = {}) {
  return h(`h${level}`, { id, class: level === 1 ? 'page-title' : undefined, tabindex: level === 1 ? '-1' : undefined }, text);
}

export function page(...children) {
  return h('div', { class: 'page' }, ...children);
}

export function lead(text) {
  return h('p', { class: 'lead' }, text);
}

/** A titled section labelled by its own <h2>. */
export function section(title, ...children) {
  const id = uid('section');
  return h('section', { class: 'section', 'aria-labelledby': id }, h('h2', { id }, title), ...children);
}

export function loadingState(message = 'Loading…') {
  return h('div', { class: 'loading', role: 'status' },
    h('span', { class: 'spinner', 'aria-hidden': 'true' }),
    h('span', {}, message));
}

export function emptyState(message) {
  return h('p', { class: 'empty-state' }, message);
}

/** A notice panel. kind: info | success | warning. */
export function notice(message, kind = 'info', { role = 'status' } = {}) {
  if (!message) return null;
  return h('div', { class: ['notice', `notice--${token(kind)}`], role }, message);
}

/* --------------------------------------------------------------- errors -- */

/**
 * A region for error messages. It is always in the DOM with role="alert" so
 * assistive technology announces whatever is put into it.
 */
export function errorArea() {
  const el = h('div', { class: 'error-summary', role: 'alert', tabindex: '-1' });
  return {
    element: el,
    show(error, extra = []) {
      el.replaceChildren();
      const detail = typeof error === 'string' ? error : problemMessage(error);
      el.append(h('h2', { class: 'error-summary__title' }, 'There is a problem'));
      el.append(h('p', { class: 'error-summary__detail' }, detail));
      const items = extra.filter(Boolean);
      if (items.length) el.append(h('ul', { class: 'error-summary__list' }, items.map((m) => h('li', {}, m))));
    },
    clear() {
      el.replaceChildren();
    },
  };
}

export function problemMessage(error) {
  if (!error) return 'Something went wrong. Please try again.';
  return error.detail || error.title || error.message || 'Something went wrong. Please try again.';
}

/**
 * Fill a disclosure the first time it is opened, so that nothing is fetched for a form nobody
 * opens: a status line (`loadingText`) while `load` runs, then whatever `show` makes of its
 * answer in that line's place. A failure is said there instead, and the next opening tries
 * again. Nothing is shown once the view has moved on (`ctx.isCurrent()`) or the load was
 * aborted.
 * @template T
 * @param {HTMLElement} details a <details> element
 * @param {{
 *   ctx: { isCurrent: () => boolean },
 *   load: () => Promise<T>,
 *   show: (value: T) => Node | Node[],
 *   loadingText?: string,
 * }} options
 * @returns {HTMLElement} the same details element
 */
export function loadOnFirstOpen(details, { ctx, load, show, loadingText = 'Loading…' }) {
  let loaded = false;
  details.addEventListener('toggle', () => {
    if (!(/** @type {HTMLDetailsElement} */ (details)).open || loaded) return;
    loaded = true;
    const waiting = h('p', { role: 'status' }, loadingText);
    details.append(waiting);
    load()
      .then((value) => {
        if (!ctx.isCurrent()) return;
        const shown = show(value);
        waiting.replaceWith(...(Array.isArray(shown) ? shown : [shown]));
      })
      .catch((error) => {
        if (error.name === 'AbortError' || !ctx.isCurrent()) return;
        loaded = false;
        waiting.replaceWith(h('p', { class: 'field__error', role: 'alert' }, problemMessage(error)));
      });
  });
  return details;
}

/* ---------------------------------------------------------------- forms -- */

/**
 * A labelled input with optional hint and an error message slot.
 * Returns { element, input, setError(message), clearError() }.
 * @param {{
 *   label: string, name: string, type?: string, autocomplete?: string, hint?: string,
 *   required?: boolean, inputmode?: string, spellcheck?: boolean, autocapitalize?: string,
 *   value?: string, extraClass?: string,
 * }} options
 */
export function textField({
  label: labelText, name, type = 'text', autocomplete, hint, required = true,
  inputmode, spellcheck, autocapitalize, value, extraClass,
}) {
  const id = uid(name);
  const hintId = hint ? `${id}-hint` : null;
  const errorId = `${id}-error`;
  const input = h('input', {
    id, name, type, autocomplete, inputmode, autocapitalize, required,
    spellcheck: spellcheck === undefined ? undefined : String(spellcheck),
    value, class: ['input', extraClass], 'aria-describedby': hintId || undefined,
  });
  const error = h('p', { id: errorId, class: 'field__error', hidden: true });
  const element = h('div', { class: 'field' },
    h('label', { for: id, class: 'field__label' }, labelText),
    hint ? h('p', { id: hintId, class: 'field__hint' }, hint) : null,
    error,
    input);
  return {
    element,
    input,
    setError(message) {
      error.replaceChildren(h('span', { class: 'visually-hidden' }, 'Error: '), message);
      error.hidden = false;
      element.classList.add('field--error');
      input.setAttribute('aria-invalid', 'true');
      input.setAttribute('aria-describedby', [hintId, errorId].filter(Boolean).join(' '));
    },
    clearError() {
      error.replaceChildren();
      error.hidden = true;
      element.classList.remove('field--error');
      input.removeAttribute('aria-invalid');
      if (hintId) input.setAttribute('aria-describedby', hintId);
      else input.removeAttribute('aria-describedby');
    },
  };
}

/**
 * Put problem-JSON field errors next to their fields.
 * `fields` maps API field names to textField() results. Field names such
 * as "body.password" are matched on their last segment. Returns messages
 * that matched no field, so the caller can list them in the summary.
 */
export function applyFieldErrors(error, fields) {
  const unmatched = [];
  for (const item of (error && error.errors) || []) {
    const key = String(item.field || '').split('.').pop();
    const field = fields[key];
    if (field) field.setError(item.message || 'Check this answer');
    else if (item.message) unmatched.push(item.field ? `${humanise(key)}: ${item.message}` : item.message);
  }
  return unmatched;
}

/**
 * A submit button that guards against double submission while a request is
 * under way. It stays focusable (aria-disabled rather than disabled) so
 * keyboard focus is not lost.
 * @param {string} text
 * @param {{ busyText?: string }} [options]
 */
export function submitButton(text, { busyText } = {}) {
  const button = h('button', { type: 'submit', class: 'button' }, text);
  let busy = false;
  return {
    element: button,
    get busy() { return busy; },
    setBusy(value) {
      busy = value;
      button.textContent = value && busyText ? busyText : text;
      if (value) button.setAttribute('aria-disabled', 'true');
      else button.removeAttribute('aria-disabled');
    },
  };
}

/**
 * A button that asks first: the first click shows "question [confirm] [cancel]"
 * in place of it, with focus on the confirming button; `action` runs on
 * confirmation, and the button comes back once it has finished.
 * `hiddenLabel` is appended to the button's name for screen readers only
 * (": Case review", " Tom Okafor"), telling apart buttons of a list.
 * @param {{ label: string, hiddenLabel?: string, question: string, confirmLabel: string,
 *   cancelLabel?: string, className?: string, action: () => (Promise<unknown> | unknown) }} options
 * @returns {HTMLElement}
 */
export function confirmingButton({
  label, hiddenLabel = '', question, confirmLabel, cancelLabel = 'Cancel', className, action,
}) {
  const start = h('button', { type: 'button', class: ['button', 'button--small', className] }, label,
    hiddenLabel ? h('span', { class: 'visually-hidden' }, hiddenLabel) : null);
  const yes = h('button', { type: 'button', class: 'button button--small button--danger' }, confirmLabel);
  const no = h('button', { type: 'button', class: 'button button--small button--secondary' }, cancelLabel);
  const ask = h('span', { class: 'confirm', role: 'group', 'aria-label': question, hidden: true },
    h('span', { class: 'confirm__question' }, question), ' ', yes, ' ', no);
  start.addEventListener('click', () => {
    start.hidden = true;
    ask.hidden = false;
    yes.focus();
  });
  no.addEventListener('click', () => {
    ask.hidden = true;
    start.hidden = false;
    start.focus();
  });
  yes.addEventListener('click', async () => {
    if (yes.getAttribute('aria-disabled') === 'true') return;
    yes.setAttribute('aria-disabled', 'true');
    try {
      await action();
    } finally {
      yes.removeAttribute('aria-disabled');
      ask.hidden = true;
      start.hidden = false;
    }
  });
  return h('span', { class: 'confirming' }, start, ask);
}

/** Copy text to the clipboard; resolves true on success. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * A link (or code) to pass on: shown in a read-only field to select, with a
 * "Copy" button that says whether it worked.
 * @param {string} value
 * @param {{ label: string, copyLabel?: string }} options
 */
export function copyableValue(value, { label: labelText, copyLabel = 'Copy' }) {
  const id = uid('copy');
  const input = h('input', { id, type: 'text', class: 'input copyable__input', value, readonly: true });
  input.addEventListener('focus', () => input.select());
  const status = h('span', { class: 'copyable__status', role: 'status' });
  const button = h('button', { type: 'button', class: 'button button--small button--secondary' }, copyLabel,
    h('span', { class: 'visually-hidden' }, ` ${labelText.toLowerCase()}`));
  button.addEventListener('click', async () => {
    status.textContent = (await copyText(value)) ? 'Copied.' : 'Select it and copy it yourself.';
  });
  return h('div', { class: 'field copyable' },
    h('label', { for: id, class: 'field__label' }, labelText),
    h('div', { class: 'copyable__row' }, input, button),
    status);
}

/* --------------------------------------------------------------- tables -- */

/**
 * @typedef {object} TableColumn
 * @property {string} header
 * @property {(item: any) => any} cell  a node, a string or an array of them
 * @property {boolean} [rowHeader]
 * @property {string} [className]
 */

/** One term and its value in a summary list (<dl class="summary-list">). */
export function summaryRow(term, value) {
  return h('div', { class: 'summary-list__row' }, h('dt', {}, term), h('dd', {}, value));
}

/**
 * A data table.
 * columns: [{ header, cell(item) → node|string, rowHeader?, className? }]
 * @param {{
 *   caption: string, captionHidden?: boolean, columns: TableColumn[], items: any[],
 *   emptyText?: string, className?: string,
 * }} options
 */
export function dataTable({ caption, captionHidden = false, columns, items, emptyText = 'Nothing to show.', className }) {
  const captionId = uid('table-caption');
  const table = h('table', { class: ['table', className] },
    h('caption', { id: captionId, class: captionHidden ? 'visually-hidden' : 'table__caption' }, caption),
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col', class: c.className }, c.header)))));
  const body = h('tbody');
  if (!items.length) {
    body.append(h('tr', {}, h('td', { colspan: String(columns.length), class: 'table__empty' }, emptyText)));
  }
  for (const item of items) {
    body.append(h('tr', {}, columns.map((c) => {
      const content = c.cell(item);
      return c.rowHeader
        ? h('th', { scope: 'row', class: c.className }, content)
        : h('td', { class: c.className }, content);
    })));
  }
  table.append(body);
  return scrollableTable(table, captionId);
}

/*
 * A table's scroll container. On a phone a wide table scrolls sideways; a
 * keyboard user can scroll it only if the container takes focus, and a
 * screen reader then names it by the table's caption (WCAG 2.1.1). A group,
 * not a region: the section around it is already the landmark of that name.
 */
export function scrollableTable(table, captionId) {
  return h('div', { class: 'table-wrap', tabindex: '0', role: 'group', 'aria-labelledby': captionId }, table);
}

/** Accept `{items,total,limit,offset}` or a bare array. */
export function normalisePage(data, { limit = 50, offset = 0 } = {}) {
  if (Array.isArray(data)) return { items: data, total: data.length, limit: Math.max(limit, data.length), offset: 0 };
  const items = Array.isArray(data && data.items) ? data.items : [];
  return {
    items,
    total: Number.isFinite(data && data.total) ? data.total : offset + items.length,
    limit: Number.isFinite(data && data.limit) && data.limit > 0 ? data.limit : limit,
    offset: Number.isFinite(data && data.offset) ? data.offset : offset,
  };
}

/**
 * A table with a results summary and Previous/Next paging.
 *   initial: the first page (already fetched, so the router can show the
 *            loading and error states for it)
 *   load({offset, limit, signal}) → page
 *   onChange(page) after each successful load
 * Returns { element, reload(offset, {focus}) }.
 * @param {{
 *   caption: string, captionHidden?: boolean, columns: TableColumn[], noun?: string[],
 *   emptyText?: string, initial: any,
 *   load: (query: { offset: number, limit: number, signal: AbortSignal }) => Promise<any>,
 *   onChange?: (page: ReturnType<typeof normalisePage>) => void, limit?: number,
 * }} options
 */
export function pagedTable({
  caption, captionHidden = true, columns, noun = ['item', 'items'], emptyText,
  initial, load, onChange, limit = 50,
}) {
  let current = normalisePage(initial, { limit });
  let controller = null;

  const summary = h('p', { class: 'results-summary', 'aria-live': 'polite', 'aria-atomic': 'true', tabindex: '-1' });
  const errors = errorArea();
  const holder = h('div', { class: 'paged-table__table' });
  const previous = h('button', { type: 'button', class: 'button button--secondary' }, 'Previous page');
  const next = h('button', { type: 'button', class: 'button button--secondary' }, 'Next page');
  const position = h('span', { class: 'pager__position' });
  const pager = h('nav', { class: 'pager', 'aria-label': `${caption} pages` }, previous, position, next);
  const element = h('div', { class: 'paged-table' }, errors.element, summary, holder, pager);

  function draw() {
    const { items, total, offset } = current;
    const size = current.limit || limit;
    if (total === 0 || (!items.length && offset === 0)) {
      summary.textContent = `No ${noun[1]} found.`;
    } else if (!items.length) {
      summary.textContent = `No more ${noun[1]} to show.`;
    } else {
      const first = offset + 1;
      const last = offset + items.length;
      summary.textContent = `Showing ${first} to ${last} of ${total} ${total === 1 ? noun[0] : noun[1]}`;
    }
    holder.replaceChildren(dataTable({
      caption, captionHidden, columns, items, emptyText: emptyText || `No ${noun[1]} found.`,
    }));
    const pages = Math.max(1, Math.ceil(total / size));
    const pageNumber = Math.min(pages, Math.floor(offset / size) + 1);
    position.textContent = `Page ${pageNumber} of ${pages}`;
    previous.disabled = offset <= 0;
    next.disabled = offset + items.length >= total || !items.length;
    pager.hidden = total <= size && offset === 0;
  }

  async function go(offset, { focus = true } = {}) {
    if (controller) controller.abort();
    controller = new AbortController();
    const { signal } = controller;
    element.setAttribute('aria-busy', 'true');
    errors.clear();
    try {
      const data = await load({ offset: Math.max(0, offset), limit: current.limit || limit, signal });
      if (signal.aborted) return;
      current = normalisePage(data, { limit, offset });
      draw();
      if (onChange) onChange(current);
      if (focus) summary.focus();
    } catch (error) {
      if (signal.aborted || (error && error.name === 'AbortError')) return;
      errors.show(error);
      errors.element.focus();
    } finally {
      if (!signal.aborted) element.removeAttribute('aria-busy');
    }
  }

  previous.addEventListener('click', () => go(current.offset - (current.limit || limit)));
  next.addEventListener('click', () => go(current.offset + (current.limit || limit)));
  draw();

  return { element, reload: go };
}
