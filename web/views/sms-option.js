// "Text the link", beside "Email the link to" in the forms that make one-time
// links (a guest link into a client session, a questionnaire link): a
// checkbox and a mobile number. Offered only where the service sends text
// messages (`sms_available` of GET /api/v1/me/notifications: TEAMWELL_SMS_BACKEND
// is not "off"). Left empty, the number is the client's own mobile on record.
// The server checks the number (a UK mobile) and sends the fixed text with
// nothing clinical in it; see docs/meetings.md, "Texting a link".

import { request } from '../api.js';
import { h, textField } from '../ui.js';
import { checkboxField } from './admin-kit.js';

/**
 * @param {{ ownNumberHint: string, signal?: AbortSignal }} options
 */
export function smsOption({ ownNumberHint, signal }) {
  const send = checkboxField({ label: 'Text the link', name: 'sms', checked: false });
  const number = textField({
    label: 'Mobile number', name: 'sms_to', type: 'tel', required: false, autocomplete: 'off',
    inputmode: 'tel', hint: `A UK mobile, such as 07700 900123. ${ownNumberHint}`,
  });
  number.input.setAttribute('maxlength', '20');
  const element = h('div', { class: 'sms-option', hidden: true }, send.element, number.element);
  const showNumber = () => { number.element.hidden = !send.input.checked; };
  send.input.addEventListener('change', showNumber);
  showNumber();
  // Nothing to offer where the service sends no text messages, or when it cannot be asked.
  request('/api/v1/me/notifications', { signal })
    .then((prefs) => { element.hidden = !prefs.sms_available; })
    .catch(() => {});
  return {
    element,
    field: number,
    /** The body's fields: none, or `sms_to` (the number given) or `sms: true` (on record). */
    body() {
      if (element.hidden || !send.input.checked) return {};
      const given = number.input.value.trim();
      return given ? { sms_to: given } : { sms: true };
    },
    reset() {
      number.input.value = '';
      send.input.checked = false;
      showNumber();
    },
  };
}

/**
 * What the result says about how the link went.
 * @param {{ emailed: boolean, texted: boolean }} made
 */
export function sentBy(made) {
  if (made.emailed && made.texted) return 'The link was emailed and texted.';
  if (made.texted) return 'The link was texted.';
  if (made.emailed) return 'The link was emailed.';
  return '';
}
