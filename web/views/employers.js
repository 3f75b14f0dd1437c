// Employers: the organisation's employer directory and its vacancies. Employment specialists
// add employers and vacancies, correct them and mark a vacancy filled or closed; supervisors
// read the directories of the specialists they supervise. Opening an employer shows all its
// vacancies and the contacts logged against it.

import { request } from '../api.js';
import {
  h, heading, page, lead, section, dataTable, badge, time, textField, notice, label, normalisePage,
} from '../ui.js';
import { actionForm, selectField } from './admin-kit.js';
import { CONTACT_TYPE_LABELS, payText, penceOf } from './journey.js';

/** The SIC 2007 sections, as the server lists them on a journey (letters A to U). */
export const SECTORS = [
  ['A', 'Agriculture, forestry and fishing'], ['B', 'Mining and quarrying'], ['C', 'Manufacturing'],
  ['D', 'Electricity, gas, steam and air conditioning supply'], ['E', 'Water supply and waste'],
  ['F', 'Construction'], ['G', 'Wholesale and retail trade'], ['H', 'Transportation and storage'],
  ['I', 'Accommodation and food service activities'], ['J', 'Information and communication'],
  ['K', 'Financial and insurance activities'], ['L', 'Real estate activities'],
  ['M', 'Professional, scientific and technical activities'], ['N', 'Administrative and support service activities'],
  ['O', 'Public administration and defence'], ['P', 'Education'], ['Q', 'Human health and social work activities'],
  ['R', 'Arts, entertainment and recreation'], ['S', 'Other service activities'],
  ['T', 'Activities of households as employers'], ['U', 'Activities of extraterritorial organisations'],
];

const STATUS_LABELS = { open: 'Open', filled: 'Filled', closed: 'Closed' };
const CONTACTS_SHOWN = 20; // the latest on an employer's page; the Employer contacts page has all

function optional(field) {
  field.input.required = false;
  return field;
}

function sectorField(value) {
  return selectField({
    label: 'Sector', name: 'sector', required: false, value: value || '',
    options: [{ value: '', text: 'Not recorded' }, ...SECTORS.map(([code, text]) => ({ value: code, text: `${code}: ${text}` }))],
  });
}

/** @param {import('../app.js').ViewContext} ctx */
export async function render(ctx) {
  const manages = ctx.user.role === 'employment_specialist';
  const [employers, vacancies] = await Promise.all([
    request('/api/v1/employers', { signal: ctx.signal }),
    request('/api/v1/vacancies', { signal: ctx.signal }),
  ]);
  const status = h('div', { tabindex: '-1' }, ctx.flash ? notice(ctx.flash.message, ctx.flash.kind) : null);
  const detail = h('div', { class: 'employer-detail', 'aria-live': 'polite' });

  /** Draw the page again from the server, with what was done said at the top. */
  async function refresh(message) {
    if (!ctx.isCurrent()) return;
    ctx.setFlash(message, 'success');
    ctx.navigate('#/employers');
  }

  async function open(employerId) {
    const id = encodeURIComponent(employerId);
    // The contacts against this employer that the reader's contact log holds: a specialist's
    // own, a supervisor's those of the specialists they supervise (the count is everyone's).
    const [e, contactPage] = await Promise.all([
      request(`/api/v1/employers/${id}`, { signal: ctx.signal }),
      request('/api/v1/employer-contacts', { query: { employer_id: employerId, limit: CONTACTS_SHOWN }, signal: ctx.signal }),
    ]);
    if (!ctx.isCurrent()) return;
    const contacts = normalisePage(contactPage);
    const parts = [
      h('h3', { tabindex: '-1' }, e.name),
      h('p', { class: 'muted' }, [e.sector ? `Sector ${e.sector}` : 'Sector not recorded', e.location || 'no location',
        `${e.contacts} employer contact${e.contacts === 1 ? '' : 's'} logged`].join(' · ')),
      dataTable({
        caption: `Contacts with ${e.name}, newest first`,
        items: contacts.items,
        emptyText: manages ? 'You have logged no contact with this employer. Log one on a client\u2019s journey, choosing the employer from your directory.' : 'The specialists you supervise have logged no contact with this employer.',
        columns: [
          { header: 'Date', rowHeader: true, cell: (c) => time(c.contacted_on) },
          { header: 'How', cell: (c) => (c.contact_type ? label(CONTACT_TYPE_LABELS, c.contact_type) : h('span', { class: 'muted' }, 'Not recorded')) },
          { header: 'Outcome', className: 'table__wide', cell: (c) => c.outcome },
          { header: 'Specialist', cell: (c) => c.specialist_name || '\u2014' },
          {
            header: 'Client',
            cell: (c) => (c.client_id
              ? h('a', { href: `#/clients/${encodeURIComponent(c.client_id)}/journey` }, 'Open the journey')
              : h('span', { class: 'muted' }, 'None')),
          },
        ],
      }),
      contacts.total > contacts.items.length
        ? h('p', { class: 'muted' }, `The ${contacts.items.length} latest of ${contacts.total} are shown; every contact is on the Employer contacts page.`)
        : null,
      dataTable({
        caption: `Vacancies at ${e.name}`,
        items: e.vacancies,
        emptyText: 'No vacancies yet.',
        columns: [
          { header: 'Title', rowHeader: true, cell: (v) => v.title },
          { header: 'Hours', cell: (v) => `${v.hours_per_week} a week` },
          { header: 'Status', cell: (v) => STATUS_LABELS[v.status] || v.status },
        ],
      }),
    ];
    if (manages) {
      const fields = {
        name: textField({ label: 'Name', name: 'name', value: e.name }),
        location: optional(textField({ label: 'Location (optional)', name: 'location', value: e.location || '' })),
      };
      parts.push(actionForm({
        label: `Correct ${e.name}`,
        children: [fields.name.element, fields.location.element],
        buttonText: 'Save the employer',
        busyText: 'Saving…',
        fields,
        ctx,
        action: () => request(`/api/v1/employers/${encodeURIComponent(e.id)}`, {
          method: 'PATCH',
          body: { name: fields.name.input.value.trim(), location: fields.location.input.value.trim() || null },
          signal: ctx.signal,
        }),
        done: () => 'Employer saved.',
      }).element);
    }
    detail.replaceChildren(...parts.filter(Boolean));
    const title = detail.querySelector('h3');
    if (title instanceof HTMLElement) title.focus();
  }

  const directory = dataTable({
    caption: 'Employer directory',
    items: employers,
    emptyText: 'No employers yet.',
    columns: [
      {
        header: 'Employer',
        rowHeader: true,
        cell: (e) => h('button', { type: 'button', class: 'link-button', onClick: () => open(e.id) }, e.name),
      },
      { header: 'Sector', cell: (e) => e.sector || '—' },
      { header: 'Location', cell: (e) => e.location || '—' },
      { header: 'Open vacancies', cell: (e) => String(e.open_vacancies) },
      { header: 'Contacts', cell: (e) => (e.last_contact_on ? h('span', {}, String(e.contacts), ' (last ', time(e.last_contact_on), ')') : String(e.contacts)) },
    ],
  });

  const vacancyTable = dataTable({
    caption: 'Vacancies, soonest closing first',
    items: vacancies,
    emptyText: 'No vacancies yet.',
    columns: [
      { header: 'Vacancy', rowHeader: true, cell: (v) => `${v.title} at ${v.employer_name}` },
      { header: 'Hours', cell: (v) => `${v.hours_per_week} a week` },
      { header: 'Pay', cell: (v) => (v.hourly_pay_pence ? payText(v.hourly_pay_pence) : '—') },
      { header: 'Location', cell: (v) => v.location || '—' },
      { header: 'Closes', cell: (v) => (v.closing_on ? time(v.closing_on) : '—') },
      { header: 'Status', cell: (v) => badge(v.live ? 'Open' : (STATUS_LABELS[v.status] || v.status), v.live ? 'open' : 'closed') },
      ...(manages ? [{
        header: 'Change',
        cell: (v) => (v.status === 'open' ? h('button', {
          type: 'button',
          class: 'button button--secondary button--small',
          'aria-label': `Mark filled: ${v.title} at ${v.employer_name}`,
          onClick: async () => {
            await request(`/api/v1/vacancies/${encodeURIComponent(v.id)}`, { method: 'PATCH', body: { status: 'filled' }, signal: ctx.signal });
            await refresh(`${v.title} marked filled.`);
          },
        }, 'Mark filled') : h('span', { class: 'muted' }, '—')),
      }] : []),
    ],
  });

  const forms = [];
  if (manages) {
    const employerFields = {
      name: textField({ label: 'Employer name', name: 'name', autocomplete: 'organization' }),
      sector: sectorField(''),
      location: optional(textField({ label: 'Location (optional)', name: 'location' })),
    };
    forms.push(section('Add an employer', actionForm({
      label: 'Add an employer',
      children: Object.values(employerFields).map((f) => f.element),
      buttonText: 'Add the employer',
      busyText: 'Adding…',
      fields: employerFields,
      ctx,
      action: () => request('/api/v1/employers', {
        method: 'POST',
        body: {
          name: employerFields.name.input.value.trim(),
          sector: employerFields.sector.input.value || null,
          location: employerFields.location.input.value.trim() || null,
        },
        signal: ctx.signal,
      }),
      done: async (made) => { await refresh(`${made.name} added to the directory.`); return null; },
    }).element));
    if (employers.length) {
      const vacancyFields = {
        employer: selectField({ label: 'Employer', name: 'employer', options: employers.map((e) => ({ value: e.id, text: e.name })) }),
        title: textField({ label: 'Job title', name: 'title' }),
        hours_per_week: textField({ label: 'Hours a week', name: 'hours_per_week', type: 'number', inputmode: 'decimal', extraClass: 'input--number' }),
        hourly_pay_pence: optional(textField({ label: 'Hourly pay (£, optional)', name: 'hourly_pay_pence', type: 'number', inputmode: 'decimal', extraClass: 'input--number' })),
        location: optional(textField({ label: 'Location (optional)', name: 'location' })),
        closing_on: optional(textField({ label: 'Closing date (optional)', name: 'closing_on', type: 'date', extraClass: 'input--date' })),
      };
      vacancyFields.hourly_pay_pence.input.setAttribute('step', '0.01');
      forms.push(section('Add a vacancy', actionForm({
        label: 'Add a vacancy',
        children: Object.values(vacancyFields).map((f) => f.element),
        buttonText: 'Add the vacancy',
        busyText: 'Adding…',
        fields: vacancyFields,
        ctx,
        action: () => request(`/api/v1/employers/${encodeURIComponent(vacancyFields.employer.input.value)}/vacancies`, {
          method: 'POST',
          body: {
            title: vacancyFields.title.input.value.trim(),
            hours_per_week: Number(vacancyFields.hours_per_week.input.value),
            hourly_pay_pence: penceOf(vacancyFields.hourly_pay_pence.input.value),
            location: vacancyFields.location.input.value.trim() || null,
            closing_on: vacancyFields.closing_on.input.value || null,
          },
          signal: ctx.signal,
        }),
        done: async (made) => { await refresh(`Vacancy added: ${made.title} at ${made.employer_name}.`); return null; },
      }).element));
    }
  }

  return page(
    h('div', { class: 'page-header' }, heading('Employers')),
    lead(manages
      ? 'Your organisation\u2019s employer directory and vacancies. Open vacancies are matched to clients\u2019 job preferences on their journeys.'
      : 'The employer directories and vacancies of the employment specialists you supervise.'),
    status,
    section('Employer directory', directory, detail),
    section('Vacancies', vacancyTable),
    ...forms,
  );
}
