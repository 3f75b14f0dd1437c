// "Invite a guest", on a client session's page for the staff who run it
// (auth.policies.meetings.can_invite_guests): a one-time link into the
// session's waiting room for the client without an account, an interpreter,
// or a family member the client asked for. The link and its short code are
// shown once, to copy; the link is emailed when an address is given (or, for
// the client, to their login email). Links already made are listed with
// whether they were used, and can be withdrawn. The server decides in the
// end: a refusal shows its problem detail. Where the service sends SMS, the
// link can be texted too (./../sms-option.js).

import { request } from '../../api.js';
import {
  h, uid, notice, problemMessage, errorArea, applyFieldErrors, submitButton, textField,
  formatDateTime, confirmingButton, copyableValue,
} from '../../ui.js';
import { selectField } from '../record-fields.js';
import { smsOption, sentBy } from '../sms-option.js';

export const GUEST_KIND_LABELS = {
  client: 'The client',
  interpreter: 'An interpreter',
  family: 'A family member or friend the client asked for',
};

const GUEST_KIND_SHORT = { client: 'Client', interpreter: 'Interpreter', family: 'Family member' };

/**
 * @param {import('../../app.js').ViewContext} ctx
 * @param {Record<string, any>} meeting
 * @returns {HTMLElement | null}
 */
export function guestLinksPanel(ctx, meeting) {
  if (!ctx.user || ctx.user.role === 'client' || meeting.kind !== 'client_session') return null;
  const base = `/api/v1/meetings/${encodeURIComponent(meeting.id)}/guest-links`;
  const titleId = uid('guests');
  const list = h('ul', { class: 'guest-links' });
  const listStatus = h('p', { class: 'muted', role: 'status' }, 'Loading guest links…');
  const failure = h('p', { class: 'field__error', role: 'alert' });
  const result = h('div', { class: 'guest-links__result' });
  const element = h('section', { class: 'section guest-links-panel', 'aria-labelledby': titleId, hidden: true },
    h('h2', { id: titleId }, 'Invite a guest'),
    h('p', { class: 'muted' },
      'Send a one-time link into the waiting room: for the client if they have no account, or for an interpreter or a family member the client asked for. They need no account; you let them in.'),
    form(),
    result,
    h('h3', {}, 'Links made for this session'),
    failure,
    listStatus,
    list);

  async function load() {
    try {
      const links = await request(base, { signal: ctx.signal });
      if (!ctx.isCurrent()) return;
      element.hidden = false;
      draw(links);
    } catch (error) {
      if (error.name === 'AbortError' || !ctx.isCurrent()) return;
      // Not one of the staff who run the session: nothing to offer.
      if (error.status === 403) return;
      element.hidden = false;
      listStatus.textContent = '';
      failure.textContent = problemMessage(error);
    }
  }

  function state(link) {
    if (link.revoked_at) return `withdrawn ${formatDateTime(link.revoked_at)}`;
    if (link.used_at) return `used ${formatDateTime(link.used_at)}`;
    return `opens ${formatDateTime(link.opens_at)}`;
  }

  function draw(links) {
    listStatus.textContent = links.length ? '' : 'No guest links yet.';
    list.replaceChildren(...links.map((link) => {
      const who = link.guest_name
        ? `${GUEST_KIND_SHORT[link.kind] || link.kind}: ${link.guest_name}`
        : (GUEST_KIND_SHORT[link.kind] || link.kind);
      const revoke = link.revoked_at ? null : confirmingButton({
        label: 'Withdraw',
        hiddenLabel: ` the link for ${who}`,
        question: 'Withdraw this link?',
        confirmLabel: 'Withdraw',
        className: 'button--secondary',
        action: async () => {
          failure.textContent = '';
          try {
            await request(`${base}/${encodeURIComponent(link.id)}`, { method: 'DELETE', signal: ctx.signal });
            if (ctx.isCurrent()) await load();
          } catch (error) {
            if (error.name !== 'AbortError') failure.textContent = problemMessage(error);
          }
        },
      });
      return h('li', { class: 'guest-links__item' },
        h('span', { class: 'guest-links__who' }, who),
        h('span', { class: 'muted' }, ` (${state(link)})`),
        revoke ? ' ' : null, revoke);
    }));
  }

  function form() {
    const errors = errorArea();
    const kind = selectField({
      label: 'Who is it for?', name: 'kind',
      options: Object.entries(GUEST_KIND_LABELS).map(([value, text]) => /** @type {[string, string]} */ ([value, text])),
    });
    const name = textField({
      label: 'Their name', name: 'guest_name', required: false, autocomplete: 'off',
      hint: 'They give their first name to join. Not needed for the client: their name is on their record.',
    });
    name.input.setAttribute('maxlength', '200');
    const email = textField({
      label: 'Email the link to (optional)', name: 'email', type: 'email', required: false, autocomplete: 'off',
      hint: 'Left empty, the client’s link goes to their login email if they have one; otherwise copy the link and send it yourself.',
    });
    const sms = smsOption({
      signal: ctx.signal,
      ownNumberHint: 'Left empty, the client’s link goes to the mobile they gave in their notification settings.',
    });
    const submit = submitButton('Make the link', { busyText: 'Making the link…' });
    const showName = () => {
      name.element.hidden = kind.input.value === 'client';
    };
    kind.input.addEventListener('change', showName);
    showName();
    const el = h('form', { class: 'form', novalidate: true, 'aria-label': 'Invite a guest' },
      errors.element, kind.element, name.element, email.element, sms.element,
      h('div', { class: 'form__actions' }, submit.element));
    el.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (submit.busy) return;
      errors.clear();
      name.clearError();
      email.clearError();
      sms.field.clearError();
      result.replaceChildren();
      /** @type {Record<string, any>} */
      const body = { kind: kind.input.value };
      const guestName = name.input.value.trim();
      if (body.kind !== 'client') {
        if (!guestName) {
          name.setError('Enter their name');
          name.input.focus();
          return;
        }
        body.guest_name = guestName;
      }
      const address = email.input.value.trim();
      if (address) body.email = address;
      Object.assign(body, sms.body());
      submit.setBusy(true);
      try {
        const made = await request(base, { method: 'POST', body, signal: ctx.signal });
        if (!ctx.isCurrent()) return;
        const sent = sentBy(made);
        result.replaceChildren(
          notice(sent
            ? `${sent} It opens ${formatDateTime(made.opens_at)} and works once.`
            : `Nothing was sent: copy the link and give it to them. It opens ${formatDateTime(made.opens_at)} and works once.`,
          sent ? 'success' : 'info'),
          copyableValue(made.link, { label: 'Join link' }),
          copyableValue(made.code, { label: 'Short code (they can type it instead of their name)' }));
        name.input.value = '';
        email.input.value = '';
        sms.reset();
        await load();
      } catch (error) {
        if (error.name === 'AbortError') return;
        errors.show(error, applyFieldErrors(error, { guest_name: name, email, kind, sms_to: sms.field }));
        errors.element.focus();
      } finally {
        submit.setBusy(false);
      }
    });
    return el;
  }

  load();
  return element;
}
