// IPS-25 fidelity self-review of a team: the 25 items scored 1-5, three of
// them pre-filled from what Teamwell measured (caseload size, rapid job search,
// frequent employer contact), the total and its band as the supervisor goes,
// and the team's past reviews.

import { request } from '../api.js';
import {
  h, uid, heading, page, lead, section, notice, errorArea, submitButton, formatDate, dataTable,
} from '../ui.js';
import { bandBadge, fidelityChart } from './supervision.js';

function bandOf(total) {
  if (total >= 115) return 'exemplary';
  if (total >= 100) return 'good';
  if (total >= 74) return 'fair';
  return 'not_ips';
}

function capitalised(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

const none = (value) => (value === null || value === undefined ? '—' : String(value));

/** What Teamwell measured for a pre-filled item, in words, and the scoring rule it applied. */
function measuredFigure(item, m) {
  if (item === 'caseload size') {
    return `${m.clients} open cases for ${none(m.fte)} full-time employment specialists: ${none(m.clients_per_fte)} per specialist.`;
  }
  if (item === 'rapid job search') {
    return `${m.clients_contacted} of ${m.clients_joined} clients who joined between ${formatDate(m.window_from)} and ${formatDate(m.window_to)} `
      + `had a first employer contact; median ${none(m.median_days)} days. ${m.waiting_over_30_days} waiting more than 30 days.`;
  }
  if (item === 'diversity of employers') {
    return `${m.jobs} job starts between ${formatDate(m.window_from)} and ${formatDate(m.window_to)} with ${m.employers} different employers; `
      + `${m.directory_employers} employers in the directory, ${m.directory_employers_contacted} contacted lately.`;
  }
  if (item === 'job development - frequent employer contact') {
    return `${m.contacts} employer contacts by ${m.specialists} specialists over ${m.weeks} weeks: `
      + `${none(m.contacts_per_specialist_per_week)} per specialist per week.`;
  }
  return null;
}

function measuredNote(item, measured) {
  if (!measured) return null;
  const figure = measuredFigure(item, measured);
  return h('div', { class: 'fidelity-item__measured' },
    figure ? h('p', { class: 'field__hint' }, h('strong', {}, 'Measured: '), figure) : null,
    measured.basis ? h('p', { class: 'field__hint' }, measured.basis) : null);
}

function itemRow(item, number, suggested, measured) {
  const id = uid('item');
  const select = h('select', { id, name: item, class: 'input fidelity-item__score', required: true },
    h('option', { value: '' }, 'Score…'),
    [1, 2, 3, 4, 5].map((v) => h('option', { value: String(v), selected: suggested === v }, String(v))));
  return {
    item,
    select,
    element: h('div', { class: ['field', 'fidelity-item', suggested ? 'fidelity-item--prefilled' : null] },
      h('label', { for: id, class: 'field__label' }, `${number}. ${capitalised(item)}`,
        suggested ? ' ' : null,
        suggested ? h('span', { class: 'badge badge--neutral' }, 'Pre-filled') : null),
      measuredNote(item, measured),
      select),
  };
}

/** The team's reviews as a chart of totals and a table, oldest first; `open(review)` shows one. */
function pastReviews(reviews, signal, open) {
  const ordered = [...reviews].sort((a, b) => String(a.reviewed_on).localeCompare(String(b.reviewed_on)));
  return [
    fidelityChart(ordered, signal),
    ordered.length ? dataTable({
      caption: 'Past reviews',
      captionHidden: true,
      items: ordered,
      columns: [
        { header: 'Date', rowHeader: true, cell: (r) => formatDate(r.reviewed_on) },
        { header: 'Total', cell: (r) => String(r.total) },
        { header: 'Band', cell: (r) => bandBadge(r.band) },
        { header: 'By', cell: (r) => r.reviewer_name || '' },
        {
          header: 'Scores',
          cell: (r) => h('button', {
            type: 'button', class: 'button button--small button--secondary', onClick: () => open(r),
          }, 'Open', h('span', { class: 'visually-hidden' }, ` the review of ${formatDate(r.reviewed_on)}`)),
        },
      ],
    }) : null,
  ].filter(Boolean);
}

/** One saved review as the server gives it: its total and band, note and every item's score. */
function reviewDetail(review, close) {
  const titleId = uid('review');
  const title = h('h3', { id: titleId, tabindex: '-1' }, `Review of ${formatDate(review.reviewed_on)}`);
  const measured = review.measured || {};
  const element = h('section', { class: 'fidelity-review', 'aria-labelledby': titleId },
    title,
    h('p', {}, `Total ${review.total} of 125: `, bandBadge(review.band),
      review.reviewer_name ? ` Scored by ${review.reviewer_name}.` : null),
    review.note ? h('p', { class: 'fidelity-review__note' }, review.note) : null,
    dataTable({
      caption: `Item scores of the review of ${formatDate(review.reviewed_on)}`,
      captionHidden: true,
      items: Object.entries(review.scores).map(([item, score], i) => ({ item, score, number: i + 1 })),
      columns: [
        { header: 'Item', rowHeader: true, cell: (x) => `${x.number}. ${capitalised(x.item)}` },
        { header: 'Score', cell: (x) => String(x.score) },
        {
          header: 'Measured then',
          cell: (x) => (measured[x.item] ? measuredFigure(x.item, measured[x.item]) || '' : ''),
        },
      ],
    }),
    h('div', { class: 'form__actions' },
      h('button', { type: 'button', class: 'button button--small button--secondary', onClick: close }, 'Close the review')));
  return { element, title };
}

/** @param {import('../app.js').ViewContext} ctx */
export async function render(ctx) {
  const teamId = ctx.params.id;
  const [draft, reviews] = await Promise.all([
    request(`/api/v1/teams/${teamId}/fidelity-reviews/draft`, { signal: ctx.signal }),
    request(`/api/v1/teams/${teamId}/fidelity-reviews`, { signal: ctx.signal }),
  ]);
  const measuredByItem = draft.measured || {};
  const past = h('div', { class: 'fidelity-past' });
  const opened = h('div', { class: 'fidelity-review__holder' });
  const openErrors = errorArea();
  const closeReview = () => {
    opened.replaceChildren();
    ctx.replaceQuery({});
  };
  const openReview = async (summary) => {
    openErrors.clear();
    try {
      const review = await request(`/api/v1/teams/${teamId}/fidelity-reviews/${summary.id}`, { signal: ctx.signal });
      if (!ctx.isCurrent()) return;
      const detail = reviewDetail(review, closeReview);
      opened.replaceChildren(detail.element);
      ctx.replaceQuery({ review: review.id });
      detail.title.focus();
    } catch (error) {
      if (error.name === 'AbortError') return;
      openErrors.show(error);
      openErrors.element.focus();
    }
  };
  const drawPast = () => past.replaceChildren(...pastReviews(reviews, ctx.signal, openReview));
  drawPast();
  // A review's own address (?review=…) opens it with the page.
  const asked = reviews.find((r) => r.id === ctx.query.get('review'));
  if (asked) openReview(asked);
  const rows = draft.items.map((item, i) => itemRow(item, i + 1, draft.scores[item], measuredByItem[item]));
  const totalText = h('output', { class: 'fidelity-total', 'aria-live': 'polite' });
  const updateTotal = () => {
    const scored = rows.map((r) => Number(r.select.value)).filter((v) => v > 0);
    const sum = scored.reduce((a, b) => a + b, 0);
    if (scored.length < rows.length) {
      totalText.replaceChildren(`${scored.length} of ${rows.length} items scored; ${sum} so far.`);
    } else {
      totalText.replaceChildren(`Total ${sum} of 125: `, bandBadge(bandOf(sum)));
    }
  };
  rows.forEach((r) => r.select.addEventListener('change', updateTotal));
  updateTotal();

  const dateId = uid('reviewed-on');
  const reviewedOn = h('input', { id: dateId, type: 'date', class: 'input', value: draft.reviewed_on, required: true });
  const noteId = uid('note');
  const note = h('textarea', { id: noteId, class: 'input textarea', rows: '3', maxlength: '2000' });
  const errors = errorArea();
  const submit = submitButton('Save the review', { busyText: 'Saving…' });
  const result = h('div', {});
  const form = h('form', { class: 'form fidelity-form', novalidate: true, 'aria-label': 'IPS-25 fidelity review' },
    errors.element,
    h('div', { class: 'field' }, h('label', { for: dateId, class: 'field__label' }, 'Review date'), reviewedOn),
    rows.map((r) => r.element),
    h('div', { class: 'field' }, h('label', { for: noteId, class: 'field__label' }, 'Note (optional)'), note),
    h('p', {}, totalText),
    h('div', { class: 'form__actions' }, submit.element));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (submit.busy) return;
    errors.clear();
    const missing = rows.filter((r) => !r.select.value);
    if (missing.length) {
      errors.show(`Score every item: ${missing.length} still to score.`);
      missing[0].select.focus();
      return;
    }
    const body = {
      reviewed_on: reviewedOn.value,
      scores: Object.fromEntries(rows.map((r) => [r.item, Number(r.select.value)])),
    };
    if (note.value.trim()) body.note = note.value.trim();
    submit.setBusy(true);
    try {
      const saved = await request(`/api/v1/teams/${teamId}/fidelity-reviews`, { method: 'POST', body, signal: ctx.signal });
      if (!ctx.isCurrent()) return;
      // The saved review joins the chart and the table at once (the answer is the stored review).
      reviews.push(saved);
      drawPast();
      result.replaceChildren(notice(`Saved: ${saved.total} of 125 (${saved.band.replace('_', ' ')}).`, 'success'));
      result.scrollIntoView({ block: 'nearest' });
    } catch (error) {
      if (error.name !== 'AbortError') errors.show(error);
    } finally {
      submit.setBusy(false);
    }
  });

  return page(
    h('div', { class: 'page-header' }, heading('IPS-25 fidelity review')),
    lead('Score each item from 1 to 5. Caseload size, rapid job search and frequent employer contact are pre-filled from the team’s records; check them and change them if you know better.'),
    result,
    section('Past reviews', past, openErrors.element, opened),
    section('New review', form),
    h('p', {}, h('a', { href: `#/supervision?team=${teamId}` }, 'Back to the team')),
  );
}
