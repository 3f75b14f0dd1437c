// Employer contacts, newest first: an employment specialist's own log of job development, and
// for a supervisor the logs of the employment specialists they supervise (narrowed to one of
// them with the server's `specialist_id` filter). Each contact linked to a client opens that
// client's journey, where it was logged and is corrected.

import { request } from '../api.js';
import {
  h, heading, page, pagedTable, time, label, normalisePage,
} from '../ui.js';
import { selectField } from './admin-kit.js';
import { CONTACT_TYPE_LABELS } from './journey.js';

const LIMIT = 50;

/** @param {import('../app.js').ViewContext} ctx */
export async function render(ctx) {
  const supervisor = ctx.user.role === 'supervisor';
  let specialistId = (supervisor && ctx.query.get('specialist')) || '';
  const load = ({ offset, limit, signal }) => request('/api/v1/employer-contacts', {
    query: { limit, offset, specialist_id: specialistId || undefined }, signal,
  });
  // Client names for the links: the clients this person may read (a contact names its client
  // only to someone who may read that record). Specialists to filter by: a supervisor's.
  const [initial, clients, caseloads] = await Promise.all([
    load({ offset: 0, limit: LIMIT, signal: ctx.signal }),
    request('/api/v1/clients', { query: { limit: 200 }, signal: ctx.signal }),
    supervisor ? request('/api/v1/caseloads', { signal: ctx.signal }) : Promise.resolve([]),
  ]);
  const names = new Map(normalisePage(clients).items.map((c) => [String(c.id), c.display_name || 'Unnamed client']));

  const columns = [
    { header: 'Date', rowHeader: true, cell: (c) => time(c.contacted_on) },
    { header: 'Employer', cell: (c) => c.employer },
    { header: 'How', cell: (c) => (c.contact_type ? label(CONTACT_TYPE_LABELS, c.contact_type) : h('span', { class: 'muted' }, 'Not recorded')) },
    { header: 'Outcome', className: 'table__wide', cell: (c) => c.outcome },
    {
      header: 'Client',
      cell: (c) => (c.client_id
        ? h('a', { href: `#/clients/${encodeURIComponent(c.client_id)}/journey` },
          `${names.get(String(c.client_id)) || 'The client'}\u2019s journey`)
        : h('span', { class: 'muted' }, 'None')),
    },
  ];
  if (supervisor) columns.push({ header: 'Specialist', cell: (c) => c.specialist_name || '—' });

  const table = pagedTable({
    caption: 'Employer contacts, newest first',
    noun: ['employer contact', 'employer contacts'],
    initial,
    load,
    limit: LIMIT,
    columns,
  });

  let filter = null;
  if (supervisor) {
    const specialists = [...caseloads].sort((a, b) => a.specialist_name.localeCompare(b.specialist_name));
    const choice = selectField({
      label: 'Employment specialist',
      name: 'specialist',
      required: false,
      options: [{ value: '', text: 'Everyone you supervise' },
        ...specialists.map((s) => ({ value: String(s.specialist_id), text: s.specialist_name }))],
      value: specialistId,
    });
    choice.input.addEventListener('change', () => {
      specialistId = choice.input.value;
      ctx.replaceQuery({ specialist: specialistId });
      table.reload(0);
    });
    filter = h('div', { class: 'filters', role: 'search', 'aria-label': 'Filter employer contacts' }, choice.element);
  }

  return page(
    h('div', { class: 'page-header' },
      heading('Employer contacts'),
      h('p', { class: 'lead' }, supervisor
        ? 'The employer contacts logged by the employment specialists you supervise, newest first.'
        : 'Every employer contact you have logged, newest first. Log and correct a contact on the client\u2019s journey.')),
    filter,
    table.element);
}
