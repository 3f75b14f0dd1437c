// "Notifications": how each person is told of things while they are not looking at Teamwell.
// Per kind (messages, urgent alerts, meetings, …), which channels: email, notifications on
// this device (Web Push) and text messages; quiet hours in their own time zone; and the
// devices that receive push notifications. What is sent never says more than "You have a new
// message in Teamwell" and a link (docs/notifications.md).

import * as api from '../api.js';
import {
  h, heading, page, errorArea, textField, submitButton, applyFieldErrors, uid, section,
  notice, loadingState, formatDateTime, problemMessage,
} from '../ui.js';
import { checkboxField } from './admin-kit.js';

const KINDS = [
  ['messages', 'New messages'],
  ['urgent_alerts', 'Urgent alerts'],
  ['meetings', 'Meetings and sessions'],
  ['questionnaires', 'Questionnaires'],
  ['journey_work', 'Journey work due'],
  ['check_ins', 'Check-ins'],
];
const CHANNELS = [
  ['email', 'Email'],
  ['push', 'On my devices'],
  ['sms', 'Text message'],
];

/**
 * @typedef {{ email: boolean, push: boolean, sms: boolean }} Choices
 * @typedef {{ id: string, endpoint: string, created_at: string, last_sent_at: string | null }} Device
 * @typedef {{
 *   kinds: Record<string, Choices>, time_zone: string,
 *   quiet_hours: { start: string, end: string } | null, sms_number: string | null,
 *   sms_available: boolean, urgent_alerts_required: boolean, email_bounced: boolean,
 *   push_public_key: string, push_subscriptions: Device[],
 * }} Preferences
 */

/** @param {import('../app.js').ViewContext} ctx */
export function render(ctx) {
  const body = h('div', {}, loadingState());
  const root = page(
    h('div', { class: 'page-header' },
      heading('Notifications'),
      h('p', { class: 'lead' },
        'Choose how Teamwell tells you of things while you are away from it. '
        + 'Notifications only ever say what happened, such as “You have a new message in Teamwell”, '
        + 'with a link: never what was written or anything about anyone’s care.')),
    body);
  load(ctx, body);
  return root;
}

async function load(ctx, body) {
  try {
    /** @type {Preferences} */
    const prefs = await api.request('/api/v1/me/notifications', { signal: ctx.signal });
    if (!ctx.isCurrent()) return;
    body.replaceChildren(settingsForm(ctx, prefs), await devicesSection(ctx, prefs, body));
  } catch (error) {
    if (error && error.name === 'AbortError') return;
    body.replaceChildren(notice(problemMessage(error), 'warning', { role: 'alert' }));
  }
}

/** @param {import('../app.js').ViewContext} ctx @param {Preferences} prefs */
function settingsForm(ctx, prefs) {
  const errors = errorArea();
  const status = h('div', { role: 'status' });
  /** @type {Record<string, Record<string, HTMLInputElement>>} */
  const boxes = {};
  const groups = KINDS.map(([kind, kindLabel]) => {
    boxes[kind] = {};
    const fields = CHANNELS
      .filter(([channel]) => channel !== 'sms' || prefs.sms_available)
      .map(([channel, channelLabel]) => {
        const field = checkboxField({ label: channelLabel, name: `${kind}-${channel}`, checked: prefs.kinds[kind][channel] });
        boxes[kind][channel] = field.input;
        return field.element;
      });
    const hint = kind === 'urgent_alerts' && prefs.urgent_alerts_required
      ? h('p', { class: 'field__hint' }, 'As a clinician you keep at least one way on. Urgent alerts arrive at any hour, quiet hours or not.')
      : null;
    return h('fieldset', { class: 'fieldset' }, h('legend', {}, kindLabel), hint, ...fields);
  });

  const quiet = checkboxField({ label: 'Quiet hours: hold everything but urgent alerts until they end', name: 'quiet', checked: Boolean(prefs.quiet_hours) });
  const quietStart = textField({ label: 'Quiet from', name: 'start', type: 'time', value: prefs.quiet_hours ? prefs.quiet_hours.start : '21:00' });
  const quietEnd = textField({ label: 'Quiet until', name: 'end', type: 'time', value: prefs.quiet_hours ? prefs.quiet_hours.end : '08:00' });
  const zone = textField({
    label: 'Your time zone', name: 'time_zone', value: prefs.time_zone, spellcheck: false,
    hint: 'Quiet hours follow this clock, such as Europe/London.',
  });
  const sms = textField({
    label: 'Mobile number for text messages', name: 'sms_number', type: 'tel', autocomplete: 'tel',
    required: false, value: prefs.sms_number || '',
    hint: 'With the country code, such as +447700900123. Leave it empty for no text messages.',
  });
  const submit = submitButton('Save notification settings', { busyText: 'Saving…' });
  const form = h('form', { class: 'form', novalidate: true, 'aria-label': 'Notification settings' },
    errors.element,
    prefs.email_bounced
      ? notice('Email to your address could not be delivered. Ask your Teamwell administrator to check it.', 'warning')
      : null,
    ...groups,
    h('fieldset', { class: 'fieldset' }, h('legend', {}, 'Quiet hours'), quiet.element, quietStart.element, quietEnd.element, zone.element),
    prefs.sms_available ? sms.element : null,
    status,
    h('div', { class: 'form__actions' }, submit.element));

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (submit.busy) return;
    errors.clear();
    status.replaceChildren();
    for (const field of [quietStart, quietEnd, zone, sms]) field.clearError();
    /** @type {Record<string, Choices>} */
    const kinds = {};
    for (const [kind] of KINDS) {
      kinds[kind] = {
        email: boxes[kind].email.checked,
        push: boxes[kind].push.checked,
        sms: boxes[kind].sms ? boxes[kind].sms.checked : false,
      };
    }
    const number = sms.input.value.replace(/[\s()-]/g, '');
    submit.setBusy(true);
    try {
      await api.request('/api/v1/me/notifications', {
        method: 'PUT',
        body: {
          kinds,
          time_zone: zone.input.value.trim(),
          quiet_hours: quiet.input.checked ? { start: quietStart.input.value, end: quietEnd.input.value } : null,
          sms_number: number || null,
        },
      });
      status.replaceChildren(notice('Your notification settings are saved.', 'success'));
    } catch (error) {
      const rest = applyFieldErrors(error, { start: quietStart, end: quietEnd, time_zone: zone, sms_number: sms });
      errors.show(error, rest);
      errors.element.focus();
    } finally {
      submit.setBusy(false);
    }
  });
  return form;
}

function base64UrlToBytes(text) {
  const padded = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

/** The push subscription of this browser, if it has one. */
async function currentSubscription() {
  if (!('serviceWorker' in navigator) || !('PushManager' in window)) return null;
  const registration = await navigator.serviceWorker.getRegistration('/');
  return registration ? registration.pushManager.getSubscription() : null;
}

/** @param {import('../app.js').ViewContext} ctx @param {Preferences} prefs @param {HTMLElement} body */
async function devicesSection(ctx, prefs, body) {
  const errors = errorArea();
  const supported = 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
  const mine = supported ? await currentSubscription().catch(() => null) : null;
  const thisDevice = mine && prefs.push_subscriptions.find((d) => d.endpoint === mine.endpoint);
  const reload = () => load(ctx, body);

  const turnOn = h('button', { type: 'button', class: 'button' }, 'Turn on notifications on this device');
  turnOn.addEventListener('click', async () => {
    errors.clear();
    try {
      const permission = await Notification.requestPermission();
      if (permission !== 'granted') {
        errors.show('Your browser was not allowed to show notifications. Allow them in its site settings, then try again.');
        return;
      }
      const registration = await navigator.serviceWorker.ready;
      const subscription = await registration.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: base64UrlToBytes(prefs.push_public_key),
      });
      await api.request('/api/v1/me/notifications/push-subscriptions', { method: 'POST', body: subscription.toJSON() });
      reload();
    } catch (error) {
      errors.show(error && error.status !== undefined ? error : 'This browser could not subscribe to notifications.');
    }
  });

  const rows = prefs.push_subscriptions.map((device) => {
    const remove = h('button', { type: 'button', class: 'button button--secondary button--small' },
      device === thisDevice ? 'Turn off on this device' : 'Turn off');
    remove.addEventListener('click', async () => {
      errors.clear();
      try {
        if (device === thisDevice && mine) await mine.unsubscribe();
        await api.request(`/api/v1/me/notifications/push-subscriptions/${encodeURIComponent(device.id)}`, { method: 'DELETE' });
        reload();
      } catch (error) {
        errors.show(error);
      }
    });
    const name = device === thisDevice ? 'This device' : `A device added ${formatDateTime(device.created_at)}`;
    return h('li', { class: 'device-list__item' }, h('span', {}, name), remove);
  });
  const listId = uid('devices');
  return section('Devices that show notifications',
    errors.element,
    rows.length
      ? h('ul', { id: listId, class: 'device-list' }, ...rows)
      : h('p', {}, 'No device shows Teamwell notifications yet.'),
    !supported
      ? notice('This browser cannot show notifications from Teamwell. On a phone, add Teamwell to your home screen first.', 'info')
      : (thisDevice ? null : h('div', { class: 'form__actions' }, turnOn)));
}
