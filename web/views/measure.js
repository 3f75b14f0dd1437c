// A questionnaire (PHQ-9, GAD-7, WSAS, …) rendered from the instrument data:
// one question per fieldset with large radio buttons, progress, the
// "not applicable" choice where the instrument allows it, and the result
// (total and severity) once submitted. A client completes it for themselves;
// staff record it in session.

import * as api from '../api.js';
import {
  h, heading, page, uid, problemMessage, submitButton,
} from '../ui.js';
import {
  instruments, maxTotal, allowedUnanswered, bandLabel, shortName, measurePath,
} from '../measures.js';

const NOT_APPLICABLE = 'not_applicable';

/** @param {import('../app.js').ViewContext} ctx */
export async function render(ctx) {
  const id = encodeURIComponent(ctx.params.id);
  const [defs, client] = await Promise.all([
    instruments({ signal: ctx.signal }),
    api.request(`/api/v1/clients/${id}`, { signal: ctx.signal }),
  ]);
  const instrument = defs.find((d) => d.code === ctx.params.instrument);
  if (!instrument) {
    throw new api.ApiError({ status: 404, detail: 'There is no questionnaire with that name.' });
  }
  return questionnaire(ctx, client, instrument, defs);
}

/**
 * A questionnaire opened from a one-time link (no sign-in): the link names the
 * measure and the client's first name; the answers go back through the link.
 * @param {import('../app.js').ViewContext} ctx
 */
export async function renderLink(ctx) {
  const token = ctx.params.token;
  const info = await api.request(`/api/v1/measure-links/${encodeURIComponent(token)}`, { signal: ctx.signal });
  const client = { id: null, display_name: info.client_first_name };
  return questionnaire(ctx, client, info.instrument, [info.instrument], token);
}

function optionText(value, text, numeric) {
  if (!numeric) return text || String(value);
  return text ? `${value} – ${text}` : String(value);
}

function questionnaire(ctx, client, instrument, defs, link = null) {
  const isClient = link !== null || (ctx.user && ctx.user.role === 'client');
  const name = client.display_name || 'the client';
  const firstName = String(client.display_name || '').trim().split(/\s+/)[0] || 'the client';
  const items = instrument.items || [];
  const total = items.length;
  const allowance = allowedUnanswered(instrument);
  const naItems = new Set((instrument.allow_not_applicable_items || []).map(Number));
  const recordHref = link !== null ? '#/login'
    : isClient ? '#/my-record' : `#/clients/${encodeURIComponent(client.id)}`;

  /* --------------------------------------------------------- the form -- */

  const progressText = h('p', { id: uid('progress'), class: 'measure-progress__text' });
  const progressBar = h('progress', {
    class: 'measure-progress__bar', max: String(total), value: '0', 'aria-labelledby': progressText.id,
  });
  const progress = h('div', { class: 'measure-progress' }, progressText, progressBar);

  const summary = h('div', { class: 'error-summary', role: 'alert', tabindex: '-1' });
  const questions = items.map((item) => question(item));

  function question(item) {
    const numeric = (item.options || []).some(([, text]) => !text);
    const legendId = uid(`q${item.number}`);
    const errorEl = h('p', { class: 'field__error', hidden: true });
    const groupName = uid(`item-${item.number}`);
    const inputs = [];
    const choice = (value, text, extraClass) => {
      const inputId = uid('choice');
      const input = h('input', {
        id: inputId, type: 'radio', name: groupName, value: String(value), class: 'choice__input',
      });
      inputs.push(input);
      return h('div', { class: ['choice', extraClass] },
        input,
        h('label', { for: inputId, class: 'choice__label' }, text));
    };
    const fieldset = h('fieldset', { class: 'measure-item', 'aria-describedby': undefined },
      h('legend', { id: legendId, class: 'measure-item__legend' },
        h('span', { class: 'measure-item__number' }, `Question ${item.number} of ${total}`),
        h('span', { class: 'measure-item__text' }, item.text)),
      errorEl,
      h('div', { class: ['choices', numeric ? 'choices--scale' : null] },
        (item.options || []).map(([value, text]) => choice(value, optionText(value, text, numeric)))),
      naItems.has(Number(item.number)) && item.not_applicable_label
        ? choice(NOT_APPLICABLE, item.not_applicable_label, 'choice--not-applicable')
        : null);
    const value = () => {
      const checked = inputs.find((input) => input.checked);
      if (!checked) return null;
      return checked.value === NOT_APPLICABLE ? NOT_APPLICABLE : Number(checked.value);
    };
    return {
      item,
      fieldset,
      inputs,
      value,
      setError(message) {
        errorEl.replaceChildren(h('span', { class: 'visually-hidden' }, 'Error: '), message);
        errorEl.hidden = false;
        errorEl.id = errorEl.id || uid('q-error');
        fieldset.classList.add('measure-item--error');
        fieldset.setAttribute('aria-describedby', errorEl.id);
      },
      clearError() {
        errorEl.replaceChildren();
        errorEl.hidden = true;
        fieldset.classList.remove('measure-item--error');
        fieldset.removeAttribute('aria-describedby');
      },
    };
  }

  function drawProgress() {
    const answered = questions.filter((q) => q.value() !== null).length;
    progressText.textContent = `${answered} of ${total} questions answered`;
    progressBar.value = answered;
  }

  const submit = submitButton(isClient ? 'Send my answers' : 'Save the answers', { busyText: 'Sending…' });
  const guidance = allowance
    ? `Answer every question you can. You may leave out one question${naItems.size ? ' (choosing “Not applicable” counts as leaving it out)' : ''}.`
    : 'Answer every question.';
  const form = h('form', { class: 'form measure-form', novalidate: true },
    summary,
    h('p', { class: 'measure-form__stem' }, instrument.stem),
    h('p', { class: 'field__hint' }, guidance),
    questions.map((q) => q.fieldset),
    h('div', { class: 'form__actions' }, submit.element,
      h('a', { href: recordHref }, 'Cancel')));

  // Errors from the last attempt go as their questions get answered (removed
  // one by one, so the alert region does not announce the summary again).
  const shownProblems = new Map(); // question → its <li> in the summary
  form.addEventListener('change', () => {
    drawProgress();
    if (!shownProblems.size) return;
    const remaining = validate();
    for (const [q, li] of shownProblems) {
      if (remaining.some((p) => p.q === q)) continue;
      q.clearError();
      li.remove();
      shownProblems.delete(q);
    }
    if (!shownProblems.size) summary.replaceChildren();
  });

  function validate() {
    const missing = questions.filter((q) => q.value() === null);
    const notApplicable = questions.filter((q) => q.value() === NOT_APPLICABLE);
    if (missing.length + notApplicable.length <= allowance) return [];
    // Too many left out: every missing question needs an answer (or all but
    // one, when the instrument allows one; the person chooses which).
    return missing.map((q) => ({ q, message: `Answer question ${q.item.number}` }));
  }

  function showErrors(problems, extra = []) {
    shownProblems.clear();
    summary.replaceChildren(
      h('h2', { class: 'error-summary__title' }, 'There is a problem'),
      problems.length && allowance
        ? h('p', { class: 'error-summary__detail' }, `You can leave out one question at most${naItems.size
          ? ', and choosing “Not applicable” counts as leaving one out' : ''}.`)
        : null,
      h('ul', { class: 'error-summary__list' },
        problems.map(({ q, message }) => {
          const link = h('a', { href: `#${q.inputs[0].id}` }, message);
          link.addEventListener('click', (event) => {
            event.preventDefault();
            q.inputs[0].focus();
            q.fieldset.scrollIntoView({ block: 'center' });
          });
          const li = h('li', {}, link);
          shownProblems.set(q, li);
          return li;
        }),
        extra.map((message) => h('li', {}, message))));
    summary.focus();
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (submit.busy) return;
    for (const q of questions) q.clearError();
    summary.replaceChildren();
    shownProblems.clear();
    const problems = validate();
    if (problems.length) {
      for (const { q, message } of problems) q.setError(message);
      showErrors(problems);
      return;
    }
    const answers = {};
    for (const q of questions) answers[q.item.number] = q.value();
    submit.setBusy(true);
    try {
      const result = link !== null
        ? await api.request(`/api/v1/measure-links/${encodeURIComponent(link)}`, {
          method: 'POST', body: { answers },
        })
        : await api.request(`/api/v1/clients/${encodeURIComponent(client.id)}/measures`, {
          method: 'POST', body: { instrument: instrument.code, answers },
        });
      if (!ctx.isCurrent()) return;
      showResult(result, answers);
    } catch (failure) {
      if (!ctx.isCurrent()) return;
      showErrors([], [problemMessage(failure), ...(failure.errors || []).map((e) => e.message)
        .filter((m) => m && m !== problemMessage(failure))]);
    } finally {
      submit.setBusy(false);
    }
  });

  drawProgress();

  /* ------------------------------------------------------- the result -- */

  const body = h('div', { class: 'measure' }, progress, form);

  function showResult(result, answers) {
    const titleId = uid('result');
    const scored = result.total !== null && result.total !== undefined;
    const riskItems = (instrument.risk_items || []).map(Number);
    const risk = riskItems.some((n) => typeof answers[n] === 'number' && answers[n] > instrument.min_score);
    const caseness = instrument.caseness_threshold;
    const title = h('h2', { id: titleId, tabindex: '-1' }, isClient ? 'Thank you: your answers have been sent' : 'Answers saved');
    const rows = [];
    if (scored) {
      rows.push(['Total', `${result.total} out of ${maxTotal(instrument)}`]);
      if (result.band) rows.push(['Severity', bandLabel(result.band)]);
      if (!isClient && caseness !== null && caseness !== undefined) {
        rows.push(['Caseness', result.total >= caseness ? `At or above the threshold (${caseness})` : `Below the threshold (${caseness})`]);
      }
    }
    const others = defs.filter((d) => d.code !== instrument.code);
    body.replaceChildren(h('section', { class: 'measure-result', 'aria-labelledby': titleId },
      title,
      scored
        ? h('dl', { class: 'summary-list measure-result__list' },
          rows.map(([term, value]) => h('div', { class: 'summary-list__row' }, h('dt', {}, term), h('dd', {}, value))))
        : h('p', {}, 'This questionnaire could not be scored because too many questions were left out.'),
      result.prorated
        ? h('p', { class: 'muted' }, 'One question was left out or not applicable, so the total is worked out from the others.')
        : null,
      risk && isClient ? h('div', { class: 'notice notice--warning measure-result__support' },
        h('p', {}, h('strong', {}, 'Thank you for telling us how you feel. '),
          'Your care team has been told and will contact you today.'),
        h('p', {}, 'If you feel you might act on these thoughts, or you are in danger now, call 999 or go to A&E.'),
        h('p', {}, 'You can also call NHS 111 and choose the option for mental health, or call Samaritans free on 116 123 at any time.'))
        : null,
      risk && !isClient ? h('p', { class: 'notice notice--warning' },
        // The server says whom the alert reached (it may not be the care team: docs/api.md).
        `Question ${riskItems.join(', ')} was answered above ${instrument.min_score}. `
        + (result.risk_alert ? result.risk_alert.message : `An urgent alert has gone to ${firstName}’s care team.`))
        : null,
      isClient ? h('p', {}, 'Your care team will talk the results through with you.') : null,
      link !== null ? null : h('div', { class: 'button-row' },
        h('a', { class: 'button', href: recordHref }, isClient ? 'Back to my record' : `Back to ${name}`),
        others.map((d) => h('a', { class: 'button button--secondary', href: measurePath(client.id, d.code) },
          isClient ? `Complete the ${shortName(d)}` : `Record the ${shortName(d)}`)))));
    title.focus();
    window.scrollTo(0, 0);
  }

  return page(
    link !== null ? null : isClient
      ? h('nav', { class: 'breadcrumbs', 'aria-label': 'Breadcrumb' },
        h('ol', {},
          h('li', {}, h('a', { href: '#/my-record' }, 'My record')),
          h('li', { 'aria-current': 'page' }, instrument.name)))
      : h('nav', { class: 'breadcrumbs', 'aria-label': 'Breadcrumb' },
        h('ol', {},
          h('li', {}, h('a', { href: '#/clients' }, 'Clients')),
          h('li', {}, h('a', { href: recordHref }, name)),
          h('li', { 'aria-current': 'page' }, instrument.name))),
    h('div', { class: 'page-header' },
      heading(instrument.name),
      h('p', { class: 'lead' }, isClient
        ? `${total} questions. It takes a few minutes. Your answers go to your care team.`
        : `Recording ${name}’s answers in session. Read each question to ${firstName} and choose their answer.`)),
    body,
  );
}
