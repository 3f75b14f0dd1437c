// Equality monitoring on the client page (docs/equality.md). Every question is optional and
// offers "Prefer not to say". The client gives, reads and withdraws their own answers here
// (their phone view). A member of the care team may enter them on the client's behalf, only
// with the client's consent, and is never shown them: their form sends and is then cleared.

import { request } from '../api.js';
import { h, section, uid, notice, problemMessage, submitButton } from '../ui.js';

const PREFER = ['prefer_not_to_say', 'Prefer not to say'];
const YES_NO = [['yes', 'Yes'], ['no', 'No'], PREFER];

/**
 * [name, question, options] in the order they are asked.
 * @type {Array<[string, string, Array<Array<string>>]>}
 */
export const EQUALITY_QUESTIONS = [
  ['age_band', 'Age', [['16_24', '16 to 24'], ['25_34', '25 to 34'], ['35_49', '35 to 49'], ['50_64', '50 to 64'], ['65_plus', '65 or over'], PREFER]],
  ['sex', 'Sex', [['female', 'Female'], ['male', 'Male'], PREFER]],
  ['gender_identity', 'Is the gender you identify with the same as your sex registered at birth?', [
    ['same_as_sex_at_birth', 'Yes'], ['different_from_sex_at_birth', 'No'], PREFER]],
  ['ethnicity', 'Ethnic group', [
    ['asian_bangladeshi', 'Asian: Bangladeshi'], ['asian_chinese', 'Asian: Chinese'], ['asian_indian', 'Asian: Indian'],
    ['asian_pakistani', 'Asian: Pakistani'], ['asian_other', 'Asian: any other Asian background'],
    ['black_african', 'Black: African'], ['black_caribbean', 'Black: Caribbean'], ['black_other', 'Black: any other Black background'],
    ['mixed_white_asian', 'Mixed: White and Asian'], ['mixed_white_black_african', 'Mixed: White and Black African'],
    ['mixed_white_black_caribbean', 'Mixed: White and Black Caribbean'], ['mixed_other', 'Mixed: any other mixed background'],
    ['white_british', 'White: English, Welsh, Scottish, Northern Irish or British'], ['white_irish', 'White: Irish'],
    ['white_gypsy_irish_traveller', 'White: Gypsy or Irish Traveller'], ['white_roma', 'White: Roma'],
    ['white_other', 'White: any other White background'], ['other_arab', 'Other: Arab'], ['other_any', 'Any other ethnic group'], PREFER]],
  ['disability', 'Are your day-to-day activities limited by a health problem or disability?', [
    ['limited_a_lot', 'Yes, a lot'], ['limited_a_little', 'Yes, a little'], ['not_limited', 'No'], PREFER]],
  ['young_not_in_education_employment_training', 'Are you aged 16 to 24 and not in education, employment or training?', YES_NO],
  ['conviction', 'Do you have an unspent conviction?', YES_NO],
  ['insecure_housing', 'Are you homeless, in temporary accommodation or at risk of losing your home?', YES_NO],
];

function questionFields(values = {}) {
  const selects = {};
  const fields = EQUALITY_QUESTIONS.map(([name, question, options]) => {
    const id = uid(`equality-${name}`);
    const select = h('select', { id, name, class: 'select' },
      h('option', { value: '' }, 'Not answered'),
      options.map(([value, text]) => h('option', { value, selected: values[name] === value }, text)));
    selects[name] = select;
    return h('div', { class: 'field' }, h('label', { for: id, class: 'field__label' }, question), select);
  });
  const read = () => {
    const answers = {};
    for (const [name, select] of Object.entries(selects)) if (select.value) answers[name] = select.value;
    return answers;
  };
  const clear = () => { for (const select of Object.values(selects)) select.value = ''; };
  return { fields, read, clear };
}

/** The client's own answers: give, change or withdraw them. */
function ownPanel(ctx) {
  const status = h('div', { class: 'equality-panel__status' });
  const body = h('div', { class: 'equality-panel' }, h('p', {}, 'Loading…'));
  const panel = section('About you (equality monitoring)',
    h('p', {}, 'These questions are optional. Your answers help us check the service works as well for everyone. '
      + 'Only you see them; your team never does, and reports show only totals of many people.'),
    status, body);

  async function draw() {
    let current;
    try {
      current = await request('/api/v1/me/equality', { signal: ctx.signal });
    } catch (error) {
      if (error.name !== 'AbortError') status.replaceChildren(notice(problemMessage(error), 'error'));
      return;
    }
    if (!ctx.isCurrent()) return;
    const { fields, read } = questionFields(current.answers);
    const form = h('form', { class: 'form', novalidate: true }, fields, submitButton('Save my answers', { busyText: 'Saving…' }).element);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      try {
        await request('/api/v1/me/equality', { method: 'PUT', body: read(), signal: ctx.signal });
        status.replaceChildren(notice('Your answers are saved.', 'success'));
        if (ctx.isCurrent()) draw();
      } catch (error) {
        if (error.name !== 'AbortError') status.replaceChildren(notice(problemMessage(error), 'error'));
      }
    });
    const withdraw = h('button', { type: 'button', class: 'button button--secondary' }, 'Withdraw my answers');
    withdraw.addEventListener('click', async () => {
      try {
        await request('/api/v1/me/equality', { method: 'DELETE', signal: ctx.signal });
        status.replaceChildren(notice('Your answers are deleted.', 'success'));
        if (ctx.isCurrent()) draw();
      } catch (error) {
        if (error.name !== 'AbortError') status.replaceChildren(notice(problemMessage(error), 'error'));
      }
    });
    body.replaceChildren(...(current.updated_at ? [form, withdraw] : [form]));
  }
  draw();
  return panel;
}

/** A member of the care team enters answers for the client, with the client's consent. */
function staffPanel(client, ctx) {
  const status = h('div', { class: 'equality-panel__status' });
  const { fields, read, clear } = questionFields();
  const consentId = uid('equality-consent');
  const consent = h('input', { id: consentId, type: 'checkbox', name: 'client_consents', required: true });
  const form = h('form', { class: 'form', novalidate: true },
    fields,
    h('div', { class: 'field field--checkbox' }, consent,
      h('label', { for: consentId }, 'The client has agreed that I record these answers for them')),
    submitButton('Record the answers', { busyText: 'Recording…' }).element);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!consent.checked) {
      status.replaceChildren(notice('Record the answers only once the client has agreed.', 'error', { role: 'alert' }));
      return;
    }
    try {
      await request(`/api/v1/clients/${encodeURIComponent(client.id)}/equality`, {
        method: 'PUT', body: { client_consents: true, answers: read() }, signal: ctx.signal,
      });
      clear();
      consent.checked = false;
      status.replaceChildren(notice('Recorded. The answers are the client\'s: they are not shown to staff.', 'success'));
    } catch (error) {
      if (error.name !== 'AbortError') status.replaceChildren(notice(problemMessage(error), 'error'));
    }
  });
  return section('Equality monitoring',
    h('p', {}, 'Optional questions the client may answer themselves in the app. If they would rather you filled them in, '
      + 'do so with them now. What you record is never shown to you or any colleague afterwards.'),
    status,
    h('details', { class: 'equality-panel' }, h('summary', {}, 'Record answers with the client'), form));
}

export function equalityPanel(client, ctx) {
  if (!ctx) return null;
  if (ctx.user.role === 'client') return ownPanel(ctx);
  if (['peer_keyworker', 'therapist', 'employment_specialist', 'supervisor'].includes(ctx.user.role)) return staffPanel(client, ctx);
  return null;
}
