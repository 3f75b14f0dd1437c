// Administrator: their own organisation (its name and kind, which consent and reports show), and
// the partner organisations of the programme, with adding one. An admin changes only their own
// organisation; partners are added here so that consent can name them, and their own admins then
// look after them.

import { request } from '../api.js';
import {
  h, heading, page, pagedTable, section, textField, formatDate, label, summaryRow, ORGANISATION_KIND_LABELS,
} from '../ui.js';
import { actionForm, selectField } from './admin-kit.js';

const LIMIT = 50;
const KINDS = Object.entries(ORGANISATION_KIND_LABELS).map(([value, text]) => ({ value, text }));

/** @param {import('../app.js').ViewContext} ctx */
export async function render(ctx) {
  const path = `/api/v1/organisations/${ctx.user.organisation_id}`;
  const load = ({ offset, limit, signal }) => request('/api/v1/organisations', { query: { limit, offset }, signal });
  const [organisation, initial] = await Promise.all([
    request(path, { signal: ctx.signal }),
    load({ offset: 0, limit: LIMIT, signal: ctx.signal }),
  ]);

  const details = h('dl', { class: 'summary-list' });
  const drawDetails = () => {
    details.replaceChildren(
      summaryRow('Name', organisation.name),
      summaryRow('Kind', label(ORGANISATION_KIND_LABELS, organisation.kind)),
      summaryRow('Short name', h('code', {}, organisation.slug)),
      summaryRow('In Teamwell since', formatDate(organisation.created_at)));
  };
  drawDetails();

  const table = pagedTable({
    caption: 'Organisations in the programme',
    noun: ['organisation', 'organisations'],
    initial,
    load,
    limit: LIMIT,
    columns: [
      { header: 'Name', rowHeader: true, cell: (o) => (o.id === organisation.id ? `${o.name} (yours)` : o.name) },
      { header: 'Kind', cell: (o) => label(ORGANISATION_KIND_LABELS, o.kind) },
      { header: 'Short name', cell: (o) => h('code', {}, o.slug) },
    ],
  });

  const name = textField({ label: 'Name', name: 'name', autocomplete: 'organization', value: organisation.name });
  const kind = selectField({ label: 'Kind', name: 'kind', options: KINDS, value: organisation.kind });
  const edit = actionForm({
    ctx,
    label: 'Edit your organisation',
    fields: { name },
    children: [name.element, kind.element],
    buttonText: 'Save changes',
    busyText: 'Saving…',
    action: () => request(path, {
      method: 'PATCH', body: { name: name.input.value.trim(), kind: kind.input.value },
    }),
    done: async (saved) => {
      Object.assign(organisation, saved);
      drawDetails();
      await table.reload(0, { focus: false });
      return 'Organisation details saved.';
    },
  });

  const partnerName = textField({ label: 'Name', name: 'name', autocomplete: 'off' });
  const slug = textField({
    label: 'Short name', name: 'slug', autocomplete: 'off', spellcheck: false, autocapitalize: 'none',
    hint: 'Lower-case letters, digits and hyphens, for example northern-employment. It cannot be changed later.',
  });
  const partnerKind = selectField({ label: 'Kind', name: 'kind', options: KINDS, value: 'employment_provider' });
  const add = actionForm({
    ctx,
    label: 'Add a partner organisation',
    fields: { name: partnerName, slug },
    children: [partnerName.element, slug.element, partnerKind.element],
    buttonText: 'Add organisation',
    busyText: 'Adding…',
    action: () => request('/api/v1/organisations', {
      method: 'POST',
      body: { name: partnerName.input.value.trim(), slug: slug.input.value.trim(), kind: partnerKind.input.value },
    }),
    done: async (made) => {
      partnerName.input.value = '';
      slug.input.value = '';
      await table.reload(0, { focus: false });
      return `${made.name} added. Clients can now consent to sharing with it.`;
    },
  });

  return page(
    h('div', { class: 'page-header' },
      heading('Organisation'),
      h('p', { class: 'lead' }, 'Your organisation as clients and partners see it on consent and in reports.'),
      h('p', {}, h('a', { href: '#/single-sign-on' }, 'Single sign-on settings'))),
    section('Details', details),
    section('Edit your organisation', edit.element),
    section('Partner organisations',
      h('p', {}, 'Every organisation in the programme. A client’s record is shared with another organisation only with the client’s consent for it.'),
      table.element),
    section('Add a partner organisation',
      h('p', {}, 'Add an organisation you work with (an employment provider, a council, a Jobcentre) so that consent can name it. Its own administrator then looks after its people.'),
      add.element));
}
