// Outcome measures on a client's record: the questionnaires (as the server
// defines them, GET /api/v1/instruments), links to complete or record one,
// a line chart of the totals over time (inline SVG, no library) with the
// caseness thresholds, the same scores as a table, and (for staff) the
// Talking Therapies outcome summary.

import { drawToWidth, legendKey, marker, svg } from './charts.js';
import * as api from './api.js';
import {
  h, uid, badge, dataTable, emptyState, formatDate, humanise, problemMessage, time,
} from './ui.js';

const DAY_MS = 86_400_000;
const MODE_LABELS = { remote: 'By the client', in_session: 'In session' };

/* ---------------------------------------------------------- instruments -- */

let instrumentsPromise = null;

/**
 * The questionnaires, in the server's order (fetched once per page load).
 * @param {{ signal?: AbortSignal }} [options]
 */
export function instruments({ signal } = {}) {
  if (!instrumentsPromise) {
    instrumentsPromise = api.request('/api/v1/instruments', { signal })
      .then((items) => (Array.isArray(items) ? items : []))
      .catch((error) => {
        instrumentsPromise = null;
        throw error;
      });
  }
  return instrumentsPromise;
}

/** The highest total an instrument can score. */
export function maxTotal(instrument) {
  return Number(instrument.max_score) * (instrument.items || []).length;
}

/** How many items may be left unanswered ("not applicable" counts as unanswered). */
export function allowedUnanswered(instrument) {
  return instrument.proration && instrument.proration !== 'none' ? 1 : 0;
}

export function bandLabel(band) {
  return band ? humanise(band) : '';
}

/** "PHQ-9" for "phq9", and a short name for long ones ("WSAS"). */
export function shortName(instrument) {
  if (!instrument) return '';
  const match = /\(([^)]+)\)\s*$/.exec(instrument.name || '');
  return match ? match[1] : instrument.name || instrument.code.toUpperCase();
}

export function measurePath(clientId, code) {
  return `#/clients/${encodeURIComponent(clientId)}/measures/${encodeURIComponent(code)}`;
}

/* -------------------------------------------------------------- panels -- */

function panel(className, title, ...children) {
  const titleId = uid('panel');
  return h('section', { class: ['record-panel', className], 'aria-labelledby': titleId },
    h('p', { id: titleId, class: 'record-panel__title' }, title),
    ...children);
}

/**
 * Links to complete (client) or record in session (staff) each questionnaire.
 * Returns the panel; it loads the instruments itself.
 */
export function questionnairePanel(client, ctx) {
  const isClient = ctx.user.role === 'client';
  const firstName = String(client.display_name || '').trim().split(/\s+/)[0] || 'the client';
  const list = h('ul', { class: 'questionnaire-links' });
  const status = h('p', { class: 'muted' }, 'Loading questionnaires…');
  const element = panel('record-panel--measures',
    isClient ? 'Complete a questionnaire' : 'Questionnaires',
    h('p', { class: 'record-panel__intro' }, isClient
      ? 'A few questions about how you have been. Your answers go to your care team.'
      : `Go through a questionnaire with ${firstName} and record the answers, or send them a link to answer it on their own device.`),
    status,
    list);
  instruments({ signal: ctx.signal }).then((items) => {
    if (!ctx.isCurrent()) return;
    status.remove();
    list.replaceChildren(...items.map((instrument) => h('li', {},
      h('a', { class: 'button button--secondary questionnaire-links__link', href: measurePath(client.id, instrument.code) },
        instrument.name,
        h('span', { class: 'questionnaire-links__count' }, `${(instrument.items || []).length} questions`)))));
  }).catch((error) => {
    if (!ctx.isCurrent() || (error && error.name === 'AbortError')) return;
    status.className = 'field__error';
    status.textContent = `Questionnaires could not be loaded. ${problemMessage(error)}`;
  });
  return element;
}

/** The link to the plan. */
export function planPanel(client, ctx) {
  const isClient = ctx.user.role === 'client';
  const firstName = String(client.display_name || '').trim().split(/\s+/)[0] || 'the client';
  return panel('record-panel--plan', isClient ? 'Your plan' : 'Plan',
    h('p', { class: 'record-panel__intro' }, isClient
      ? 'Your goals in your own words, and what you and your care team have agreed to do.'
      : `Goals, vocational profile, actions, support needs and diversion activities, worked on by the care team and ${firstName}.`),
    h('a', { class: 'button button--small', href: `#/clients/${encodeURIComponent(client.id)}/plan` },
      isClient ? 'Open your plan' : 'Open the plan'));
}

/**
 * Scores over time: chart, table and (staff) outcome summary.
 * Returns the panel; it loads the scores itself.
 */
export function scoresPanel(client, ctx) {
  const isClient = ctx.user.role === 'client';
  const body = h('div', { class: 'scores' }, h('p', { class: 'muted' }, 'Loading scores…'));
  const element = panel('record-panel--scores', isClient ? 'Your questionnaire scores' : 'Questionnaire scores', body);
  const id = encodeURIComponent(client.id);
  Promise.all([
    instruments({ signal: ctx.signal }),
    api.request(`/api/v1/clients/${id}/measures`, { signal: ctx.signal }),
    isClient ? Promise.resolve(null) : api.request(`/api/v1/clients/${id}/outcomes`, { signal: ctx.signal }),
  ]).then(([defs, responses, outcome]) => {
    if (!ctx.isCurrent()) return;
    const items = Array.isArray(responses) ? responses : [];
    body.replaceChildren(...scoresContent(defs, items, outcome, ctx).filter(Boolean));
  }).catch((error) => {
    if (!ctx.isCurrent() || (error && error.name === 'AbortError')) return;
    body.replaceChildren(h('p', { class: 'field__error' }, `Scores could not be loaded. ${problemMessage(error)}`));
  });
  return element;
}

function scoresContent(defs, responses, outcome, ctx) {
  const byCode = new Map(defs.map((d, index) => [d.code, { ...d, index }]));
  const scored = responses.filter((r) => byCode.has(r.instrument));
  if (!scored.length) {
    return [
      emptyState(ctx.user.role === 'client'
        ? 'You have not completed a questionnaire yet.'
        : 'No questionnaires have been recorded yet.'),
      outcome ? outcomeSummary(outcome, byCode) : null,
    ];
  }
  const series = [...byCode.values()]
    .map((def) => ({
      def,
      points: scored.filter((r) => r.instrument === def.code && r.total !== null && r.total !== undefined)
        .map((r) => ({ t: new Date(r.completed_at).getTime(), total: Number(r.total), response: r }))
        .filter((p) => Number.isFinite(p.t))
        .sort((a, b) => a.t - b.t),
    }))
    .filter((s) => s.points.length);

  const chart = series.length ? chartFigure(series, [...byCode.values()], ctx) : null;
  const rows = [...scored].sort((a, b) => String(b.completed_at).localeCompare(String(a.completed_at)));
  const table = dataTable({
    caption: 'Questionnaire scores, newest first',
    captionHidden: true,
    className: 'table--scores',
    items: rows,
    columns: [
      { header: 'Date', rowHeader: true, className: 'table__nowrap', cell: (r) => time(r.completed_at) },
      { header: 'Questionnaire', cell: (r) => shortName(byCode.get(r.instrument)) },
      {
        header: 'Total',
        cell: (r) => (r.total === null || r.total === undefined
          ? h('span', { class: 'muted' }, 'Not scored')
          : [`${r.total} of ${maxTotal(byCode.get(r.instrument))}`, r.prorated ? h('span', { class: 'muted' }, ' (prorated)') : null]),
      },
      { header: 'Severity', cell: (r) => bandLabel(r.band) || '—' },
      { header: 'How', cell: (r) => MODE_LABELS[r.mode] || humanise(r.mode) },
      // Item by item only for those the server sends them to (the client, the care team's
      // therapists, the supervisors of its staff); for everyone else `answers` is null and
      // there is no column at all.
      rows.some((r) => r.answers) ? { header: 'Answers by question', cell: answersCell } : null,
    ].filter(Boolean),
  });
  return [
    chart,
    h('details', { class: 'details scores__table' },
      h('summary', {}, `Show the scores as a table (${rows.length})`),
      table),
    outcome ? outcomeSummary(outcome, byCode) : null,
  ];
}

const ANSWER_TEXT = { not_applicable: 'not applicable' };

/** "Q1 2, Q2 1, …": each question's number and answer, in question order. */
function answersCell(r) {
  if (!r.answers) return h('span', { class: 'muted' }, '—');
  const entries = Object.entries(r.answers).sort(([a], [b]) => Number(a) - Number(b));
  return h('span', { class: 'scores__answers' }, entries
    .map(([n, v]) => `Q${n} ${v === null || v === undefined ? 'no answer' : ANSWER_TEXT[v] || v}`)
    .join(', '));
}

/* --------------------------------------------------------------- chart -- */

const shortDate = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short' });
const monthYear = new Intl.DateTimeFormat('en-GB', { month: 'short', year: 'numeric' });

/* The width a threshold label takes (.chart__threshold-label: 600 12px, the page's font). */
let measuring = null;
function labelWidth(text) {
  try {
    measuring = measuring || document.createElement('canvas').getContext('2d');
    measuring.font = `600 12px ${getComputedStyle(document.body).fontFamily}`;
    return measuring.measureText(text).width;
  } catch {
    return text.length * 7.6;
  }
}

/**
 * Draw the chart at a width (px). series: [{ def, points: [{t, total, response}] }];
 * thresholds are drawn for every instrument with a caseness threshold.
 */
export function drawChart(series, defs, width, titleId, descId, { forClient = false } = {}) {
  const height = width < 480 ? 240 : 300;
  const m = { top: 22, right: 14, bottom: 34, left: 34 };
  const pw = Math.max(40, width - m.left - m.right);
  const ph = height - m.top - m.bottom;
  const thresholds = defs.filter((d) => d.caseness_threshold !== null && d.caseness_threshold !== undefined);
  const yMax = Math.max(...series.map((s) => maxTotal(s.def)), ...thresholds.map((d) => d.caseness_threshold + 2), 10);
  const times = series.flatMap((s) => s.points.map((p) => p.t));
  let tMin = Math.min(...times);
  let tMax = Math.max(...times);
  const singleDay = tMax - tMin < DAY_MS;
  const span = Math.max(tMax - tMin, DAY_MS * 2);
  tMin -= span * 0.06;
  tMax += span * 0.06;
  if (singleDay) {
    const mid = (tMin + tMax) / 2;
    tMin = mid - 3 * DAY_MS;
    tMax = mid + 3 * DAY_MS;
  }
  const x = (t) => m.left + ((t - tMin) / (tMax - tMin)) * pw;
  const y = (v) => m.top + ph - (v / yMax) * ph;

  const root = svg('svg', {
    class: 'chart__svg', width, height, viewBox: `0 0 ${width} ${height}`,
    role: 'img', 'aria-labelledby': titleId, 'aria-describedby': descId, focusable: 'false',
  });

  // Grid and the y axis.
  const step = yMax > 30 ? 10 : 5;
  const grid = svg('g', { class: 'chart__grid' });
  for (let v = 0; v <= yMax; v += step) {
    grid.append(
      svg('line', { class: v === 0 ? 'chart__axis' : 'chart__gridline', x1: m.left, x2: m.left + pw, y1: y(v), y2: y(v) }),
      svg('text', { class: 'chart__tick', x: m.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, String(v)),
    );
  }
  grid.append(
    svg('line', { class: 'chart__axis', x1: m.left, x2: m.left, y1: m.top, y2: m.top + ph }),
    svg('text', { class: 'chart__tick chart__tick--title', x: 2, y: 12 }, 'Total'),
  );
  root.append(grid);

  // Dates along the bottom.
  const ticks = svg('g', { class: 'chart__x' });
  const realMin = Math.min(...times);
  const realMax = Math.max(...times);
  const count = singleDay ? 1 : Math.max(2, Math.min(5, Math.floor(pw / 90)));
  const format = realMax - realMin > 300 * DAY_MS ? monthYear : shortDate;
  for (let i = 0; i < count; i += 1) {
    const t = count === 1 ? realMin : realMin + ((realMax - realMin) * i) / (count - 1);
    const anchor = count > 1 && i === 0 ? 'start' : count > 1 && i === count - 1 ? 'end' : 'middle';
    ticks.append(
      svg('line', { class: 'chart__axis', x1: x(t), x2: x(t), y1: m.top + ph, y2: m.top + ph + 5 }),
      svg('text', { class: 'chart__tick', x: x(t), y: m.top + ph + 20, 'text-anchor': anchor }, format.format(new Date(t))),
    );
  }
  root.append(ticks);

  // Caseness thresholds: dashed lines, each labelled where its label covers
  // the fewest data points and no other label.
  // A point's marker is an obstacle as big as it is drawn (and a score on the
  // threshold itself sits on the label's own line, so it must not be ignored
  // with that line); a label over a marker costs far more than over a line.
  const obstacles = [];
  for (const { points } of series) {
    const xy = points.map((p) => [x(p.t), y(p.total)]);
    xy.forEach(([px, py], i) => {
      obstacles.push({ x: px, y: py, r: 6, weight: 10 }); // a marker reaches 5.5 px out
      if (i === 0) return;
      const [qx, qy] = xy[i - 1];
      const steps = Math.ceil(Math.abs(px - qx) / 4);
      for (let k = 1; k < steps; k += 1) {
        obstacles.push({ x: qx + ((px - qx) * k) / steps, y: qy + ((py - qy) * k) / steps, r: 2, weight: 1 });
      }
    });
  }
  const placed = [];
  const sorted = [...thresholds].filter((d) => d.caseness_threshold <= yMax)
    .sort((a, b) => b.caseness_threshold - a.caseness_threshold);
  // Labels never sit on another threshold's line.
  for (const def of sorted) {
    const ty = y(def.caseness_threshold);
    for (let px = m.left; px <= m.left + pw; px += 6) obstacles.push({ x: px, y: ty, r: 0, weight: 1, line: true });
  }
  sorted.forEach((def, i) => {
    const ly = y(def.caseness_threshold);
    const index = defs.indexOf(def);
    // "Caseness" is the clinicians' word; a client reads the line as a guide.
    const text = forClient
      ? `${shortName(def)} guide ${def.caseness_threshold}`
      : `${shortName(def)} caseness ${def.caseness_threshold}`;
    const textWidth = labelWidth(text) + 2;
    // Close thresholds: the upper label above its line, the lower one below.
    const above = i > 0 && Math.abs(y(sorted[i - 1].caseness_threshold) - ly) < 20 ? [] : [-5];
    const below = i < sorted.length - 1 && Math.abs(y(sorted[i + 1].caseness_threshold) - ly) < 20 ? [] : [14];
    const offsets = [...above, ...below];
    // Every place along the line, the right-hand end first (then the left, then between):
    // on a tie the earlier place wins.
    const candidates = [];
    const left = m.left + 4;
    const right = Math.max(left, m.left + pw - textWidth - 4);
    const xs = [right, left];
    for (let px = right - 8; px > left; px -= 8) xs.push(px);
    for (const x0 of xs) {
      for (const dy of offsets.length ? offsets : [-5]) {
        candidates.push({ x0, x1: x0 + textWidth, baseline: ly + dy });
      }
    }
    // Scores on the line itself leave no room right by it: then a little further off it.
    for (const x0 of xs) {
      for (const dy of [-11, 20]) candidates.push({ x0, x1: x0 + textWidth, baseline: ly + dy });
    }
    const cost = (c) => {
      const top = c.baseline - 12;
      const bottom = c.baseline + 3;
      let n = 0;
      for (const o of obstacles) {
        if (o.line && Math.abs(o.y - ly) <= 1) continue; // the label's own line
        const pad = o.r + 2;
        if (o.x > c.x0 - pad && o.x < c.x1 + pad && o.y > top - pad && o.y < bottom + pad) n += o.weight;
      }
      for (const other of placed) {
        if (c.x0 < other.x1 && other.x0 < c.x1 && top < other.baseline + 3 && other.baseline - 12 < bottom) n += 100;
      }
      return n;
    };
    let best = candidates[0];
    let bestCost = cost(best);
    for (const c of candidates.slice(1)) {
      const value = cost(c);
      if (value < bestCost) {
        best = c;
        bestCost = value;
      }
    }
    placed.push(best);
    root.append(
      svg('line', { class: `chart__threshold chart__threshold--${index % 4}`, x1: m.left, x2: m.left + pw, y1: ly, y2: ly }),
      svg('text', {
        class: `chart__threshold-label chart__threshold-label--${index % 4}`, x: best.x0, y: best.baseline,
      }, text),
    );
  });

  // The series.
  for (const { def, points } of series) {
    const index = defs.indexOf(def);
    const group = svg('g', { class: `chart__series chart__series--${index % 4}` });
    if (points.length > 1) {
      group.append(svg('path', {
        class: `chart__line chart__line--${index % 4}`,
        d: points.map((p, i) => `${i ? 'L' : 'M'}${x(p.t).toFixed(1)} ${y(p.total).toFixed(1)}`).join(''),
      }));
    }
    for (const p of points) {
      const shape = marker(index, x(p.t), y(p.total));
      shape.append(svg('title', {},
        `${shortName(def)}: ${p.total}${p.response.band ? ` (${bandLabel(p.response.band)})` : ''} on ${formatDate(p.response.completed_at)}`));
      group.append(shape);
    }
    root.append(group);
  }
  return root;
}

function chartFigure(series, defs, ctx) {
  const forClient = Boolean(ctx && ctx.user && ctx.user.role === 'client');
  const titleId = uid('chart-title');
  const descId = uid('chart-desc');
  const names = series.map((s) => shortName(s.def));
  const latest = series.map((s) => {
    const last = s.points[s.points.length - 1];
    return `${shortName(s.def)} ${last.total}${last.response.band ? ` (${bandLabel(last.response.band)})` : ''}`;
  });
  const thresholds = defs.filter((d) => d.caseness_threshold !== null && d.caseness_threshold !== undefined);
  const holder = h('div', { class: 'chart__canvas' });
  const figure = h('figure', { class: 'chart' },
    h('figcaption', { class: 'chart__caption' },
      h('span', { id: titleId, class: 'chart__title' }, `${names.join(', ')} totals over time`),
      h('span', { id: descId, class: 'visually-hidden' },
        `Line chart. Latest: ${latest.join('; ')}. `,
        thresholds.map((d) => (forClient
          ? `${shortName(d)} guide line at ${d.caseness_threshold}. `
          : `${shortName(d)} caseness threshold ${d.caseness_threshold}. `)).join(''),
        'The table after the chart lists every score.')),
    holder,
    h('ul', { class: 'chart-legend', 'aria-hidden': 'true' },
      series.map((s) => {
        const index = defs.indexOf(s.def);
        return h('li', { class: 'chart-legend__item' }, legendKey(index), `${shortName(s.def)} (0–${maxTotal(s.def)})`);
      }),
      thresholds.map((d) => h('li', { class: 'chart-legend__item' }, legendKey(defs.indexOf(d), true),
        forClient
          ? `${shortName(d)} guide line: ${d.caseness_threshold} or more is worth talking over with your care team`
          : `${shortName(d)} caseness (${d.caseness_threshold} or more)`))));

  drawToWidth(holder, (w) => drawChart(series, defs, w, titleId, descId, { forClient }), ctx.signal);
  return figure;
}

/* ------------------------------------------------------------ outcomes -- */

function yesNo(value, { bad = false } = {}) {
  if (value) return badge('Yes', bad ? 'outcome-bad' : 'outcome-ok');
  return badge('No', 'inactive');
}

function signed(n) {
  const v = Number(n) || 0;
  if (v > 0) return `+${v}`;
  if (v < 0) return `−${Math.abs(v)}`;
  return '0';
}

function outcomeSummary(outcome, byCode) {
  const titleId = uid('outcomes');
  const pairs = Number(outcome.pairs) || 0;
  const row = (term, value) => h('div', { class: 'summary-list__row' }, h('dt', {}, term), h('dd', {}, value));
  let content;
  if (!outcome.change) {
    content = h('p', { class: 'muted' },
      `Outcomes compare the first and the latest sessions with both a PHQ-9 and an anxiety measure. `
      + `${pairs === 1 ? 'There is 1 such session' : `There are ${pairs} such sessions`} so far; at least 2 are needed.`);
  } else {
    const c = outcome.change;
    const anxiety = byCode.get(c.anxiety_instrument);
    const anxietyName = anxiety ? shortName(anxiety) : String(c.anxiety_instrument || 'Anxiety').toUpperCase();
    content = h('dl', { class: 'summary-list outcome-list' },
      row('Sessions compared', `${formatDate(outcome.first_session)} and ${formatDate(outcome.last_session)} (${pairs} sessions with both measures)`),
      row('At caseness at the start', yesNo(c.caseness)),
      row('PHQ-9 change', `${signed(c.phq9_delta)} (a fall is an improvement)`),
      row(`${anxietyName} change`, signed(c.anxiety_delta)),
      row('Reliable improvement', yesNo(c.reliable_improvement)),
      row('Reliable deterioration', yesNo(c.reliable_deterioration, { bad: true })),
      row('Recovery', yesNo(c.recovery)),
      row('Reliable recovery', yesNo(c.reliable_recovery)));
  }
  return h('section', { class: 'outcomes', 'aria-labelledby': titleId },
    h('p', { id: titleId, class: 'outcomes__title' }, 'Outcome so far'),
    content);
}
