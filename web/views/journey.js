// The IPS employment journey of one client: what is due, a timeline of
// milestones and jobs (with the in-work support window and the 13/26/52-week
// sustainment checks), forms to record milestones, job starts and ends and
// in-work support reviews, and the employer contacts logged for the client
// (logged and corrected here by the employment specialist who made them).

import { request } from '../api.js';
import { sees } from '../access.js';
import {
  h, heading, page, section, badge, time, label, emptyState, notice, errorArea, uid,
  textField, applyFieldErrors, submitButton, dataTable, formatDate,
} from '../ui.js';

const MILESTONE_LABELS = {
  referral: 'Referral',
  first_meeting: 'First meeting',
  first_employer_contact: 'First employer contact',
  job_start: 'Job start',
  job_end: 'Job end',
};

/* Milestones recorded directly (job starts and ends are recorded with the job). */
const RECORDABLE_MILESTONES = ['referral', 'first_meeting', 'first_employer_contact'];

const CHECK_LABELS = {
  not_yet: 'Not yet',
  due: 'Due',
  sustained: 'Sustained',
  ended_before: 'Ended before',
};

const ALERT_LABELS = {
  first_employer_contact: 'First employer contact',
  in_work_support_review: 'In-work support review',
  sustainment_check_due: 'Sustainment check due',
};

export const CONTACT_TYPE_LABELS = {
  face_to_face: 'Face to face',
  phone: 'Phone',
  video: 'Video call',
  email: 'Email',
  other: 'Other',
};

/* What showed the first employer contact (Journey.first_employer_contact_from). */
const FIRST_CONTACT_SOURCES = {
  milestone: 'recorded as a milestone',
  employer_contact: 'an employer contact logged for the client',
  job_start: 'a job start: a job is never found without contacting an employer',
};

const STAFF = new Set(['peer_keyworker', 'therapist', 'employment_specialist', 'supervisor']);

function clientPath(id) {
  return `/api/v1/clients/${encodeURIComponent(id)}`;
}

function firstNameOf(client) {
  return String(client.display_name || '').trim().split(/\s+/)[0] || 'the client';
}

/** The link from the client summary (staff). */
export function journeyPanel(client) {
  const titleId = uid('panel');
  return h('section', { class: ['record-panel', 'record-panel--journey'], 'aria-labelledby': titleId },
    h('p', { id: titleId, class: 'record-panel__title' }, 'Employment journey'),
    h('p', { class: 'record-panel__intro' },
      `Milestones, jobs, in-work support and sustainment checks for ${firstNameOf(client)}.`),
    h('a', { class: 'button button--small', href: `#/clients/${encodeURIComponent(client.id)}/journey` },
      'Open the journey'));
}

/** @param {import('../app.js').ViewContext} ctx */
export async function render(ctx) {
  const base = clientPath(ctx.params.id);
  // The server's policy (can_log_employer_contacts): job development is the specialist's own.
  const canLogContacts = ctx.user.role === 'employment_specialist';
  const [client, journey, brokerage, employers] = await Promise.all([
    request(base, { signal: ctx.signal }),
    request(`${base}/journey`, { signal: ctx.signal }),
    loadBrokerage(base, ctx.signal),
    // The specialist's own organisation's directory, to link a contact they log to an employer.
    canLogContacts ? request('/api/v1/employers', { signal: ctx.signal }) : Promise.resolve([]),
  ]);
  let jobs = brokerage;
  const name = client.display_name || 'Unnamed client';
  const canRecord = STAFF.has(ctx.user.role);

  const summary = h('dl', { class: 'summary-list' });
  const status = h('div', { class: 'journey__status', tabindex: '-1' });
  const body = h('div', { class: 'journey' });

  async function reload(message) {
    const [fresh, brokered] = await Promise.all([
      request(`${base}/journey`, { signal: ctx.signal }),
      loadBrokerage(base, ctx.signal),
    ]);
    if (!ctx.isCurrent()) return;
    jobs = brokered;
    draw(fresh);
    status.replaceChildren(notice(message, 'success'));
    status.focus();
  }

  /** POST/PATCH, then refresh the whole journey (what is due depends on everything). */
  async function send(path, method, payload, message) {
    await request(path, { method, body: payload, signal: ctx.signal });
    if (!ctx.isCurrent()) return;
    await reload(message);
  }

  function draw(data) {
    // The summary is drawn with the rest: what is recorded below changes it.
    summary.replaceChildren(...summaryRows(data));
    body.replaceChildren(
      dueSection(data),
      timelineSection(data, { canRecord, base, send, name }),
      canRecord ? recordSection(data, { base, send }) : null,
      brokerageSection(data, jobs, { canApply: canLogContacts, base, send }),
      contactsSection(data, {
        canLogContacts, userId: ctx.user.id, clientId: client.id, send, employers,
        everyContact: sees(ctx.user, 'employer-contacts'),
      }),
    );
  }

  draw(journey);

  return page(
    h('nav', { class: 'breadcrumbs', 'aria-label': 'Breadcrumb' },
      h('ol', {},
        h('li', {}, h('a', { href: '#/clients' }, 'Clients')),
        h('li', {}, h('a', { href: `#/clients/${encodeURIComponent(client.id)}` }, name)),
        h('li', { 'aria-current': 'page' }, 'Employment journey'))),
    h('div', { class: 'page-header' }, heading(`Employment journey for ${name}`)),
    summary,
    status,
    body,
  );
}

function summaryRows(data) {
  const first = data.first_employer_contact_on;
  const source = FIRST_CONTACT_SOURCES[data.first_employer_contact_from];
  return [
    row('Joined', h('span', {}, time(data.joined_on),
      h('span', { class: 'muted' }, data.joined_from === 'first_meeting' ? ' (first meeting)' : ' (record created)'))),
    row('First employer contact', first
      ? h('span', {}, time(first), source ? h('span', { class: 'muted' }, ` (${source})`) : null)
      : h('span', { class: 'muted' },
        'Not yet. A logged employer contact, a recorded first employer contact or a job start counts.')),
  ];
}

function row(term, value) {
  return h('div', { class: 'summary-list__row' }, h('dt', {}, term), h('dd', {}, value));
}

/* ------------------------------------------------------------- due now -- */

function dueBadge(item) {
  if (!item.overdue) return badge('Due today', 'due');
  const days = item.days_past_due;
  return badge(days === 1 ? 'Overdue by 1 day' : `Overdue by ${days} days`, 'overdue');
}

function dueSection(data) {
  const items = [...(data.alerts || [])].sort((a, b) => Number(b.overdue) - Number(a.overdue)
    || String(a.due_on).localeCompare(String(b.due_on)));
  if (!items.length) {
    return section('Due now', h('p', { class: 'journey-due__none' }, 'Nothing is due or overdue today.'));
  }
  return section('Due now',
    h('ul', { class: 'journey-due' }, items.map((item) => h('li', {
      class: ['journey-due__item', item.overdue ? 'journey-due__item--overdue' : null],
    },
    h('p', { class: 'journey-due__title' },
      h('strong', {}, label(ALERT_LABELS, item.kind)), ' ', dueBadge(item)),
    h('p', { class: 'journey-due__detail' }, item.detail || ''),
    h('p', { class: 'journey-due__when muted' }, 'Due ', time(item.due_on))))));
}

/* ------------------------------------------------------------ timeline -- */

function timelineSection(data, options) {
  const entries = [];
  for (const m of data.milestones || []) {
    // Job starts and ends are shown with their job.
    if (m.job_id && (m.kind === 'job_start' || m.kind === 'job_end')) continue;
    entries.push({ on: m.occurred_on, node: milestoneItem(m) });
  }
  for (const job of data.jobs || []) {
    entries.push({ on: job.started_on, node: jobItem(job, data, options) });
  }
  entries.sort((a, b) => String(a.on).localeCompare(String(b.on)));
  const titleId = uid('section');
  return h('section', { class: 'section', 'aria-labelledby': titleId },
    h('h2', { id: titleId }, 'Timeline'),
    entries.length
      ? h('ol', { class: 'timeline', 'aria-labelledby': titleId }, entries.map((e) => e.node))
      : emptyState('Nothing has been recorded on the journey yet.'));
}

function milestoneItem(m) {
  return h('li', { class: 'timeline__item timeline__item--milestone' },
    h('p', { class: 'timeline__date' }, time(m.occurred_on)),
    h('h3', { class: 'timeline__title' }, label(MILESTONE_LABELS, m.kind)),
    m.note ? h('p', { class: 'timeline__note' }, m.note) : null,
    m.recorded_by_name ? h('p', { class: 'timeline__meta muted' }, `Recorded by ${m.recorded_by_name}`) : null);
}

function hoursText(hours) {
  const n = Number(hours);
  const text = Number.isInteger(n) ? String(n) : String(Math.round(n * 100) / 100);
  return `${text} ${n === 1 ? 'hour' : 'hours'} a week`;
}

function supportBlock(job, today) {
  const support = job.in_work_support || {};
  const next = support.next_review_due_on;
  let nextValue;
  if (!support.open || !next) {
    nextValue = h('span', { class: 'muted' }, 'No more reviews: the window has closed');
  } else if (next < today) {
    nextValue = h('span', {}, time(next), ' ', badge('Overdue', 'overdue'));
  } else if (next === today) {
    nextValue = h('span', {}, time(next), ' ', badge('Due today', 'due'));
  } else {
    nextValue = time(next);
  }
  return h('div', { class: 'job__block' },
    h('h4', { class: 'job__subtitle' }, 'In-work support'),
    h('dl', { class: 'job__facts' },
      fact('Support until', h('span', {}, time(support.until), ' ',
        support.open ? badge('Open', 'open') : badge('Closed', 'closed'))),
      fact('Next review due', nextValue),
      fact('Last review', support.last_review_on ? time(support.last_review_on) : h('span', { class: 'muted' }, 'None yet'))));
}

function sustainmentBlock(job) {
  const checks = [...(job.sustainment || [])].sort((a, b) => a.weeks - b.weeks);
  return h('div', { class: 'job__block' },
    h('h4', { class: 'job__subtitle' }, 'Sustainment checks'),
    h('ul', { class: 'checks' }, checks.map((check) => h('li', { class: 'checks__item' },
      h('span', { class: 'checks__weeks' }, `${check.weeks} weeks`),
      h('span', { class: 'checks__due muted' }, time(check.due_on)),
      badge(label(CHECK_LABELS, check.status), `check-${check.status}`)))));
}

function fact(term, value) {
  return h('div', { class: 'job__fact' }, h('dt', {}, term), h('dd', {}, value));
}

function jobItem(job, data, { canRecord, base, send }) {
  const ended = Boolean(job.ended_on);
  const reviews = [...(job.reviews || [])].sort((a, b) => String(b.reviewed_on).localeCompare(String(a.reviewed_on)));
  const jobPath = `${base}/jobs/${encodeURIComponent(job.id)}`;
  const title = `${job.role} at ${job.employer}`;
  return h('li', { class: ['timeline__item', 'timeline__item--job', ended ? 'timeline__item--ended' : null] },
    h('p', { class: 'timeline__date' }, time(job.started_on)),
    h('h3', { class: 'timeline__title' }, 'Job: ', title, ' ',
      ended ? badge('Ended', 'closed') : badge('In work', 'status-in_work')),
    h('dl', { class: 'job__facts' },
      fact('Employer', job.employer),
      fact('Role', job.role),
      fact('Hours', hoursText(job.hours_per_week)),
      fact('Pay', job.hourly_pay_pence ? h('span', {}, payText(job.hourly_pay_pence), ' ',
        job.meets_wage_threshold ? badge('At or above the wage threshold', 'open') : badge('Below the wage threshold', 'closed'))
        : h('span', { class: 'muted' }, 'Not recorded')),
      fact('Contract', job.contract_type ? label(CONTRACT_LABELS, job.contract_type) : h('span', { class: 'muted' }, 'Not recorded')),
      fact('Competitive', job.competitive ? 'Yes' : 'No: not counted in sustainment'),
      fact('Sector', job.sector || h('span', { class: 'muted' }, 'Not recorded')),
      fact('Started', time(job.started_on)),
      fact('Ended', ended ? time(job.ended_on) : h('span', { class: 'muted' }, 'Still in this job'))),
    supportBlock(job, data.today),
    sustainmentBlock(job),
    reviews.length ? h('details', { class: 'details' },
      h('summary', {}, `In-work support reviews (${reviews.length})`),
      h('ul', { class: 'job__reviews' }, reviews.map((r) => h('li', {},
        time(r.reviewed_on),
        r.reviewed_by_name ? ` by ${r.reviewed_by_name}` : '',
        r.note ? h('span', { class: 'job__review-note' }, `: ${r.note}`) : null)))) : null,
    canRecord && !ended && job.in_work_support && job.in_work_support.open
      ? formDetails(`Record a support review for ${title}`, 'Record a support review', reviewForm(data, jobPath, send))
      : null,
    canRecord && !ended
      ? formDetails(`Record the end of ${title}`, 'Record the job end', endForm(data, job, jobPath, send))
      : null);
}

/* --------------------------------------------------------------- forms -- */

function formDetails(formName, summaryText, build) {
  return h('details', { class: 'details journey-form' },
    h('summary', {}, summaryText),
    build(formName));
}

function dateField(labelText, name, value, hint) {
  return textField({ label: labelText, name, type: 'date', value, hint, extraClass: 'input--date' });
}

function noteField(labelText = 'Note (optional)') {
  const id = uid('note');
  const input = h('textarea', { id, name: 'note', class: 'input', rows: '3', maxlength: '1000' });
  return {
    input,
    element: h('div', { class: 'field' }, h('label', { for: id, class: 'field__label' }, labelText), input),
    setError() {},
    clearError() {},
  };
}

/**
 * A small form: fields, an error summary and a submit button.
 * collect() → payload; submit(payload) → Promise.
 */
function journeyForm(name, fields, buttonText, collect, submit) {
  const errors = errorArea();
  const button = submitButton(buttonText, { busyText: 'Saving…' });
  const form = h('form', { class: 'form journey-form__form', 'aria-label': name, novalidate: true },
    errors.element,
    Object.values(fields).map((f) => f.element),
    h('div', { class: 'button-row' }, button.element));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (button.busy) return;
    errors.clear();
    Object.values(fields).forEach((f) => f.clearError());
    const missing = Object.entries(fields)
      .filter(([, f]) => f.input.required && !String(f.input.value).trim());
    if (missing.length) {
      missing.forEach(([, f]) => f.setError('Enter this'));
      errors.show('Some answers are missing.');
      errors.element.focus();
      return;
    }
    button.setBusy(true);
    try {
      await submit(collect());
    } catch (error) {
      if (error && error.name === 'AbortError') return;
      errors.show(error, applyFieldErrors(error, fields));
      errors.element.focus();
    } finally {
      button.setBusy(false);
    }
  });
  return form;
}

function reviewForm(data, jobPath, send) {
  return (name) => {
    const fields = {
      reviewed_on: dateField('Date of the review', 'reviewed_on', data.today),
      note: noteField(),
    };
    return journeyForm(name, fields, 'Save review',
      () => ({ reviewed_on: fields.reviewed_on.input.value, note: fields.note.input.value.trim() || null }),
      (payload) => send(`${jobPath}/reviews`, 'POST', payload, 'In-work support review recorded.'));
  };
}

function endForm(data, job, jobPath, send) {
  return (name) => {
    const fields = {
      ended_on: dateField('Last day in the job', 'ended_on', data.today),
      note: noteField(),
    };
    fields.ended_on.input.setAttribute('min', job.started_on);
    return journeyForm(name, fields, 'Save job end',
      () => ({ ended_on: fields.ended_on.input.value, note: fields.note.input.value.trim() || null }),
      (payload) => send(jobPath, 'PATCH', payload, `Job end recorded: ${job.role} at ${job.employer}.`));
  };
}

function milestoneForm(data, base, send) {
  const id = uid('kind');
  const select = h('select', { id, name: 'kind', class: 'select', required: true },
    RECORDABLE_MILESTONES.map((kind) => h('option', { value: kind }, MILESTONE_LABELS[kind])));
  const kindField = {
    input: select,
    element: h('div', { class: 'field' }, h('label', { for: id, class: 'field__label' }, 'Milestone'), select),
    setError() {},
    clearError() {},
  };
  const fields = {
    kind: kindField,
    occurred_on: dateField('Date', 'occurred_on', data.today),
    note: noteField(),
  };
  return journeyForm('Record a milestone', fields, 'Save milestone',
    () => ({ kind: select.value, occurred_on: fields.occurred_on.input.value, note: fields.note.input.value.trim() || null }),
    (payload) => send(`${base}/milestones`, 'POST', payload, `${label(MILESTONE_LABELS, payload.kind)} recorded.`));
}

const CONTRACT_LABELS = {
  permanent: 'Permanent',
  fixed_term: 'Fixed-term',
  zero_hours: 'Zero-hours',
  self_employed: 'Self-employed',
  apprenticeship: 'Apprenticeship',
};

/* A select that may be left as "Not recorded": quality is recorded when known. */
function optionalSelect(labelText, name, options) {
  const field = selectField(labelText, name, options);
  field.input.required = false;
  field.input.options[0].textContent = 'Not recorded';
  return field;
}

function competitiveField() {
  const id = uid('competitive');
  const hintId = `${id}-hint`;
  const input = h('input', { id, name: 'competitive', type: 'checkbox', class: 'checkbox__input', checked: true, 'aria-describedby': hintId });
  const element = h('div', { class: 'field' },
    h('div', { class: 'checkbox' }, input, h('label', { for: id, class: 'checkbox__label' }, 'Competitive job')),
    h('p', { id: hintId, class: 'field__hint' },
      'Open to anyone and paid at least the usual rate, not set aside for disabled people. Sustainment counts competitive jobs.'));
  return { element, input, setError() {}, clearError() {} };
}

/** Pounds typed by a person ("13.45") as whole pence (1345); null when empty. */
export function penceOf(text) {
  const value = String(text || '').trim();
  if (!value) return null;
  const n = Number(value);
  return Number.isFinite(n) ? Math.round(n * 100) : value;
}

export function payText(pence) {
  return `£${(pence / 100).toFixed(2)} an hour`;
}

function jobStartForm(data, base, send) {
  const quality = data.job_quality || { sectors: [], wage_threshold_name: 'the wage threshold', wage_threshold_pence: null };
  const sectors = Object.fromEntries((quality.sectors || []).map((s) => [s.code, `${s.code}: ${s.label}`]));
  const fields = {
    employer: textField({ label: 'Employer', name: 'employer', autocomplete: 'off' }),
    role: textField({ label: 'Role', name: 'role', autocomplete: 'off' }),
    hours_per_week: textField({
      label: 'Hours a week', name: 'hours_per_week', type: 'number', inputmode: 'decimal', extraClass: 'input--number',
    }),
    started_on: dateField('First day in the job', 'started_on', data.today),
    hourly_pay_pence: textField({
      label: 'Hourly pay (£)', name: 'hourly_pay_pence', type: 'number', inputmode: 'decimal', extraClass: 'input--number',
      hint: quality.wage_threshold_pence
        ? `Optional. ${quality.wage_threshold_name} is ${payText(quality.wage_threshold_pence)}.`
        : 'Optional.',
    }),
    contract_type: optionalSelect('Contract', 'contract_type', CONTRACT_LABELS),
    sector: optionalSelect('Sector', 'sector', sectors),
    competitive: competitiveField(),
  };
  fields.employer.input.setAttribute('maxlength', '200');
  fields.role.input.setAttribute('maxlength', '200');
  fields.hourly_pay_pence.input.required = false;
  Object.entries({ min: '0.5', max: '80', step: '0.5' }).forEach(([k, v]) => fields.hours_per_week.input.setAttribute(k, v));
  Object.entries({ min: '0.01', step: '0.01' }).forEach(([k, v]) => fields.hourly_pay_pence.input.setAttribute(k, v));
  return journeyForm('Record a job start', fields, 'Save job start',
    () => ({
      employer: fields.employer.input.value.trim(),
      role: fields.role.input.value.trim(),
      hours_per_week: Number(fields.hours_per_week.input.value),
      started_on: fields.started_on.input.value,
      hourly_pay_pence: penceOf(fields.hourly_pay_pence.input.value),
      contract_type: fields.contract_type.input.value || null,
      sector: fields.sector.input.value || null,
      competitive: fields.competitive.input.checked,
    }),
    (payload) => send(`${base}/jobs`, 'POST', payload, `Job start recorded: ${payload.role} at ${payload.employer}.`));
}

function recordSection(data, { base, send }) {
  return section('Record on the journey',
    h('p', { class: 'section__intro' },
      'A job start also starts 26 weeks of in-work support and the 13, 26 and 52-week sustainment checks.'),
    h('details', { class: 'details journey-form' },
      h('summary', {}, 'Record a job start'),
      jobStartForm(data, base, send)),
    h('details', { class: 'details journey-form' },
      h('summary', {}, 'Record a milestone'),
      milestoneForm(data, base, send)));
}

/* --------------------------------------------------- employer contacts -- */

function selectField(labelText, name, options, value) {
  const id = uid(name);
  const errorId = `${id}-error`;
  const input = h('select', { id, name, class: 'select', required: true },
    h('option', { value: '' }, 'Choose…'),
    Object.entries(options).map(([v, text]) => h('option', { value: v, selected: v === value }, text)));
  const error = h('p', { id: errorId, class: 'field__error', hidden: true });
  const element = h('div', { class: 'field' }, h('label', { for: id, class: 'field__label' }, labelText), error, input);
  return fieldWithError(element, input, error, errorId);
}

function textAreaField(labelText, name, value) {
  const id = uid(name);
  const errorId = `${id}-error`;
  const input = h('textarea', { id, name, class: 'input', rows: '3', maxlength: '1000', required: true });
  input.value = value || '';
  const error = h('p', { id: errorId, class: 'field__error', hidden: true });
  const element = h('div', { class: 'field' }, h('label', { for: id, class: 'field__label' }, labelText), error, input);
  return fieldWithError(element, input, error, errorId);
}

function fieldWithError(element, input, error, errorId) {
  return {
    element,
    input,
    setError(message) {
      error.replaceChildren(h('span', { class: 'visually-hidden' }, 'Error: '), message);
      error.hidden = false;
      element.classList.add('field--error');
      input.setAttribute('aria-invalid', 'true');
      input.setAttribute('aria-describedby', errorId);
    },
    clearError() {
      error.replaceChildren();
      error.hidden = true;
      element.classList.remove('field--error');
      input.removeAttribute('aria-invalid');
      input.removeAttribute('aria-describedby');
    },
  };
}

/**
 * Which employer of the specialist's directory the contact was with, or none ("Not in the
 * directory"): the contact then counts on that employer in the directory. Choosing one fills in
 * the employer's name, which stays editable (the contact keeps the name as it was told).
 */
function directoryField(employers, chosenId = null) {
  const id = uid('employer_id');
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const chosen = chosenId ? String(chosenId) : '';
  const input = h('select', { id, name: 'employer_id', class: 'select', 'aria-describedby': hintId },
    h('option', { value: '', selected: chosen === '' }, 'Not in the directory'),
    employers.map((e) => h('option', { value: String(e.id), selected: String(e.id) === chosen },
      e.location ? `${e.name} (${e.location})` : e.name)));
  const error = h('p', { id: errorId, class: 'field__error', hidden: true });
  const element = h('div', { class: 'field' },
    h('label', { for: id, class: 'field__label' }, 'From your directory'),
    h('p', { id: hintId, class: 'field__hint' }, 'Choose the employer if it is in your organisation’s directory, so the contact shows on its page there.'),
    error, input);
  const field = fieldWithError(element, input, error, errorId);
  // An error's aria-describedby is the error alone; without one, the hint describes the choice.
  const { clearError } = field;
  field.clearError = () => { clearError(); input.setAttribute('aria-describedby', hintId); };
  return field;
}

/** The directory link to send: a new contact only names one when chosen; a correction sends a
 * change of link, `null` when it is taken away, and nothing when it stays as it was. */
function directoryChoice(directory, contact) {
  if (!directory) return {};
  const chosen = directory.input.value || null;
  if (!contact) return chosen ? { employer_id: chosen } : {};
  return chosen === (contact.employer_id ? String(contact.employer_id) : null) ? {} : { employer_id: chosen };
}

/** Employer, date, how and outcome: the form to log a contact and to correct one. `employers`
 * (the specialist's directory) offers the directory employer to link it to, or to change the
 * link of a contact being corrected ("Not in the directory" unlinks it). */
function contactForm(formName, buttonText, today, contact, submit, employers = []) {
  const directory = employers.length ? directoryField(employers, contact && contact.employer_id) : null;
  const fields = {
    ...(directory ? { employer_id: directory } : {}),
    employer: textField({ label: 'Employer', name: 'employer', autocomplete: 'off', value: contact && contact.employer }),
    contacted_on: dateField('Date of the contact', 'contacted_on', contact ? contact.contacted_on : today),
    contact_type: selectField('How', 'contact_type', CONTACT_TYPE_LABELS, contact && contact.contact_type),
    outcome: textAreaField('Outcome', 'outcome', contact && contact.outcome),
  };
  fields.employer.input.setAttribute('maxlength', '200');
  fields.contacted_on.input.setAttribute('max', today);
  if (directory) {
    directory.input.addEventListener('change', () => {
      const chosen = employers.find((e) => String(e.id) === directory.input.value);
      if (chosen) fields.employer.input.value = chosen.name;
    });
  }
  return journeyForm(formName, fields, buttonText,
    () => ({
      ...directoryChoice(directory, contact),
      employer: fields.employer.input.value.trim(),
      contacted_on: fields.contacted_on.input.value,
      contact_type: fields.contact_type.input.value,
      outcome: fields.outcome.input.value.trim(),
    }),
    submit);
}

function contactsSection(data, {
  canLogContacts, userId, clientId, send, everyContact, employers,
}) {
  const contacts = data.employer_contacts || [];
  const editArea = h('div', { class: 'journey-contact-edit' });
  const contactsPath = '/api/v1/employer-contacts';

  function edit(contact) {
    const what = `${contact.employer} on ${formatDate(contact.contacted_on)}`;
    const cancel = h('button', { type: 'button', class: 'button button--secondary' }, 'Cancel');
    cancel.addEventListener('click', () => editArea.replaceChildren());
    const titleId = uid('edit');
    editArea.replaceChildren(h('div', { class: 'journey-form', role: 'group', 'aria-labelledby': titleId },
      h('h3', { id: titleId, tabindex: '-1' }, `Edit the contact with ${what}`),
      contactForm(`Edit the employer contact with ${what}`, 'Save changes', data.today, contact,
        (payload) => send(`${contactsPath}/${encodeURIComponent(contact.id)}`, 'PATCH', payload,
          `Employer contact updated: ${payload.employer}.`), employers),
      h('div', { class: 'button-row' }, cancel)));
    editArea.querySelector('h3').focus();
  }

  const columns = [
    { header: 'Date', rowHeader: true, cell: (c) => time(c.contacted_on) },
    {
      header: 'Employer',
      cell: (c) => (c.employer_id ? h('span', {}, c.employer, ' ', h('span', { class: 'muted' }, '(in the directory)')) : c.employer),
    },
    { header: 'How', cell: (c) => (c.contact_type ? label(CONTACT_TYPE_LABELS, c.contact_type) : h('span', { class: 'muted' }, 'Not recorded')) },
    { header: 'Outcome', className: 'table__wide', cell: (c) => c.outcome },
    { header: 'Specialist', cell: (c) => c.specialist_name || '—' },
  ];
  if (canLogContacts) {
    columns.push({
      header: h('span', { class: 'visually-hidden' }, 'Change'),
      cell: (c) => {
        // Only the specialist who logged a contact corrects it (can_change_employer_contact).
        if (String(c.specialist_id) !== String(userId)) return '';
        const button = h('button', {
          type: 'button',
          class: 'button button--small button--secondary',
          'aria-label': `Edit the contact with ${c.employer} on ${formatDate(c.contacted_on)}`,
        }, 'Edit');
        button.addEventListener('click', () => edit(c));
        return button;
      },
    });
  }

  return section('Employer contacts',
    everyContact ? h('p', {}, h('a', { href: '#/employer-contacts' }, 'All employer contacts, for every client')) : null,
    contacts.length ? dataTable({
      caption: 'Employer contacts for this client, newest first',
      captionHidden: true,
      items: contacts,
      columns,
    }) : emptyState('No employer contacts have been logged for this client yet.'),
    editArea,
    canLogContacts ? h('details', { class: 'details journey-form' },
      h('summary', {}, 'Log an employer contact'),
      contactForm('Log an employer contact', 'Save contact', data.today, null,
        (payload) => send(contactsPath, 'POST', { ...payload, client_id: clientId },
          `Employer contact logged: ${payload.employer}.`), employers)) : null);
}

/* ------------------------------------------------------ job brokerage -- */

const APPLICATION_LABELS = {
  applied: 'Applied',
  interview: 'Interview',
  offer: 'Offer',
  started: 'Started the job',
  unsuccessful: 'Unsuccessful',
  withdrawn: 'Withdrawn',
};

/* Where an application may move next (the server's rule, app.brokerage.rules.NEXT_STATUSES). */
const NEXT_STATUSES = {
  applied: ['interview', 'offer', 'unsuccessful', 'withdrawn'],
  interview: ['offer', 'unsuccessful', 'withdrawn'],
  offer: ['started', 'unsuccessful', 'withdrawn'],
};

const OUTCOME_LABELS = { met: 'Fits', not_met: 'Does not fit', unknown: 'Not known' };

/** The client's vacancy matches and applications (the care team reads both). */
async function loadBrokerage(base, signal) {
  const [matches, applications] = await Promise.all([
    request(`${base}/vacancy-matches`, { signal }),
    request(`${base}/applications`, { signal }),
  ]);
  return { matches, applications };
}

function vacancyFacts(v) {
  return [
    `${v.hours_per_week} hours a week`,
    v.hourly_pay_pence ? payText(v.hourly_pay_pence) : 'pay not given',
    v.location || 'location not given',
    v.closing_on ? `closes ${formatDate(v.closing_on)}` : 'no closing date',
  ].join(' · ');
}

function matchItem(match, { canApply, base, send, today }) {
  const v = match.vacancy;
  const title = `${v.title} at ${v.employer_name}`;
  return h('li', { class: 'vacancy-match' },
    h('h3', { class: 'vacancy-match__title' }, title),
    h('p', { class: 'muted' }, vacancyFacts(v)),
    h('ul', { class: 'vacancy-match__reasons', 'aria-label': `Why ${title} is shown` },
      match.criteria.map((c) => h('li', {}, badge(OUTCOME_LABELS[c.outcome] || c.outcome, c.outcome === 'met' ? 'open' : 'neutral'), ' ', c.reason))),
    match.application_id
      ? h('p', {}, badge('Applied', 'open'))
      : canApply ? formDetails(`Record an application to ${title}`, 'Record an application', (name) => {
        const fields = { applied_on: dateField('Date of the application', 'applied_on', today) };
        return journeyForm(name, fields, 'Save application',
          () => ({ vacancy_id: v.id, applied_on: fields.applied_on.input.value }),
          (payload) => send(`${base}/applications`, 'POST', payload, `Application recorded: ${title}.`));
      }) : null);
}

function moveForm(application, { base, send, today }) {
  const v = application.vacancy;
  const title = `${v.title} at ${v.employer_name}`;
  const next = NEXT_STATUSES[application.status] || [];
  return formDetails(`Move on the application to ${title}`, 'Move the application on', (name) => {
    const options = Object.fromEntries(next.map((s) => [s, APPLICATION_LABELS[s]]));
    const fields = {
      status: selectField('New status', 'status', options),
      status_on: dateField('Date', 'status_on', today),
      contract_type: optionalSelect('Contract (for a job start)', 'contract_type', CONTRACT_LABELS),
      competitive: competitiveField(),
    };
    return journeyForm(name, fields, 'Save',
      () => {
        const payload = { status: fields.status.input.value, status_on: fields.status_on.input.value };
        if (payload.status === 'started') {
          payload.job = {
            contract_type: fields.contract_type.input.value || null,
            competitive: fields.competitive.input.checked,
          };
        }
        return payload;
      },
      (payload) => send(`${base}/applications/${encodeURIComponent(application.id)}`, 'PATCH', payload,
        `Application ${APPLICATION_LABELS[payload.status].toLowerCase()}: ${title}.`));
  });
}

function brokerageSection(data, brokerage, { canApply, base, send }) {
  const { matches = [], applications = [] } = brokerage || {};
  const today = data.today;
  return section('Vacancies and applications',
    h('p', { class: 'section__intro' },
      'Open vacancies from the employers of the client\u2019s employment specialist that fit their job preferences (from the plan\u2019s vocational profile), with why each is shown.'),
    h('h3', {}, 'Matching vacancies'),
    matches.length
      ? h('ul', { class: 'vacancy-matches', 'aria-label': 'Matching vacancies' },
        matches.map((m) => matchItem(m, { canApply, base, send, today })))
      : emptyState('No open vacancy fits the client\u2019s preferences.'),
    h('h3', {}, 'Applications'),
    dataTable({
      caption: 'Applications, newest first',
      captionHidden: true,
      items: applications,
      emptyText: 'No applications yet.',
      columns: [
        { header: 'Vacancy', rowHeader: true, cell: (a) => `${a.vacancy.title} at ${a.vacancy.employer_name}` },
        { header: 'Applied', cell: (a) => time(a.applied_on) },
        { header: 'Status', cell: (a) => h('span', {}, APPLICATION_LABELS[a.status] || a.status, ' ', h('span', { class: 'muted' }, `(${formatDate(a.status_on)})`)) },
        {
          header: 'Next',
          cell: (a) => (canApply && NEXT_STATUSES[a.status] ? moveForm(a, { base, send, today }) : h('span', { class: 'muted' }, '—')),
        },
      ],
    }));
}
