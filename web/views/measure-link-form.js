// "Send a questionnaire link", in the client page's questionnaire panel for
// clinical staff who may change the record (auth.policies.can_change_client):
// choose a questionnaire, and the client gets a one-time link to answer it on
// their own device, with no sign-in (POST /clients/{id}/measure-links). The
// link is emailed to the address given, or else to the client's login email,
// and always shown to copy and give another way. The email says which
// questionnaire it is not: nothing clinical leaves Teamwell. Where the service
// sends SMS, the link can be texted too (./sms-option.js), with the same care.

import { request } from '../api.js';
import { instruments, shortName } from '../measures.js';
import {
  h, notice, errorArea, applyFieldErrors, submitButton, textField,
  formatDateTime, copyableValue, loadOnFirstOpen,
} from '../ui.js';
import { selectField } from './record-fields.js';
import { smsOption, sentBy } from './sms-option.js';

/**
 * @param {Record<string, any>} client
 * @param {import('../app.js').ViewContext} ctx
 */
export function measureLinkForm(client, ctx) {
  const base = `/api/v1/clients/${encodeURIComponent(client.id)}`;
  const details = h('details', { class: 'details measure-link' }, h('summary', {}, 'Send a questionnaire link'));
  const result = h('div', { class: 'measure-link__result' });
  loadOnFirstOpen(details, {
    ctx,
    loadingText: 'Loading questionnaires…',
    load: () => instruments({ signal: ctx.signal }),
    show: (items) => [form(items), result],
  });

  function form(items) {
    const errors = errorArea();
    const instrument = selectField({
      label: 'Questionnaire', name: 'instrument', placeholder: 'Choose a questionnaire',
      options: items.map((i) => /** @type {[string, string]} */ ([i.code, i.name || shortName(i)])),
    });
    const email = textField({
      label: 'Email the link to (optional)', name: 'email', type: 'email', required: false, autocomplete: 'off',
      hint: client.user_id
        ? 'Left empty, it goes to the client’s login email.'
        : 'The client has no login: give an address to email it, or copy the link and send it yourself.',
    });
    const sms = smsOption({
      signal: ctx.signal,
      ownNumberHint: 'Left empty, it goes to the mobile the client gave in their notification settings.',
    });
    const submit = submitButton('Make the link', { busyText: 'Making the link…' });
    const el = h('form', { class: 'form', novalidate: true, 'aria-label': 'Send a questionnaire link' },
      h('p', { class: 'field__hint' }, 'The client gets a one-time link to answer it on their own device.'),
      errors.element, instrument.element, email.element, sms.element, h('div', { class: 'form__actions' }, submit.element));
    el.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (submit.busy) return;
      errors.clear();
      instrument.clearError();
      email.clearError();
      sms.field.clearError();
      result.replaceChildren();
      if (!instrument.input.value) {
        instrument.setError('Choose a questionnaire');
        return;
      }
      /** @type {Record<string, any>} */
      const body = { instrument: instrument.input.value };
      const address = email.input.value.trim();
      if (address) body.email = address;
      Object.assign(body, sms.body());
      submit.setBusy(true);
      try {
        const made = await request(`${base}/measure-links`, { method: 'POST', body, signal: ctx.signal });
        if (!ctx.isCurrent()) return;
        const chosen = items.find((i) => i.code === made.instrument);
        const what = chosen ? shortName(chosen) : made.instrument;
        const until = `It works once, until ${formatDateTime(made.expires_at)}.`;
        const sent = sentBy(made);
        result.replaceChildren(
          sent
            ? notice(`${sent.replace('The link', `The ${what} link`)} ${until}`, 'success')
            : notice(`Nothing was sent: ${client.display_name || 'the client'} has no login email. ${until} Copy the link and give it to them.`, 'warning'),
          copyableValue(made.link, { label: 'Questionnaire link' }));
        email.input.value = '';
        sms.reset();
      } catch (error) {
        if (error.name === 'AbortError') return;
        errors.show(error, applyFieldErrors(error, { instrument, email, sms_to: sms.field }));
        errors.element.focus();
      } finally {
        submit.setBusy(false);
      }
    });
    return el;
  }
  return details;
}
