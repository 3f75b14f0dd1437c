// Charts as inline SVG (no library, nothing that the CSP would have to allow).
//
// Every chart is a <figure> with a caption, a drawing that redraws to its
// container's width, a legend in which shape as well as colour tells the series
// apart, and the same figures as a table for people who do not see the drawing.

import { h, uid, scrollableTable } from './ui.js';

const SVG_NS = 'http://www.w3.org/2000/svg';

/** Create an SVG element (attributes that are null, undefined or false are left out). */
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null && value !== false) el.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** A marker shape per series (so colour is never the only difference). */
export function marker(index, x, y, { legend = false } = {}) {
  const cls = `chart__marker chart__marker--${index % 4}`;
  const r = legend ? 4 : 4.5;
  switch (index % 4) {
    case 1:
      return svg('rect', { class: cls, x: x - r, y: y - r, width: r * 2, height: r * 2 });
    case 2:
      return svg('path', { class: cls, d: `M${x} ${y - r - 1}L${x + r + 1} ${y + r}L${x - r - 1} ${y + r}Z` });
    case 3:
      return svg('path', { class: cls, d: `M${x} ${y - r - 1}L${x + r + 1} ${y}L${x} ${y + r + 1}L${x - r - 1} ${y}Z` });
    default:
      return svg('circle', { class: cls, cx: x, cy: y, r });
  }
}

/** The small line-and-marker key drawn beside a legend entry. */
export function legendKey(index, dashed = false) {
  return svg('svg', {
    class: 'chart-legend__key', width: 28, height: 12, viewBox: '0 0 28 12', 'aria-hidden': 'true', focusable: 'false',
  },
  svg('line', {
    class: dashed ? `chart__threshold chart__threshold--${index % 4}` : `chart__line chart__line--${index % 4}`,
    x1: 1, y1: 6, x2: 27, y2: 6,
  }),
  dashed ? null : marker(index, 14, 6, { legend: true }));
}

/**
 * Redraw `draw(width)` into `holder` whenever its width changes, until the
 * signal aborts. Returns nothing; the first draw happens once laid out.
 */
export function drawToWidth(holder, draw, signal) {
  let drawnWidth = 0;
  const redraw = (width) => {
    const w = Math.max(260, Math.floor(width));
    if (Math.abs(w - drawnWidth) < 4) return;
    drawnWidth = w;
    holder.replaceChildren(draw(w));
  };
  if (typeof ResizeObserver === 'function') {
    const observer = new ResizeObserver((entries) => {
      const box = entries[entries.length - 1].contentRect;
      if (box.width > 0) redraw(box.width);
    });
    observer.observe(holder);
    if (signal) signal.addEventListener('abort', () => observer.disconnect(), { once: true });
  } else {
    redraw(640);
  }
}

function figureShell({ title, description, legend, table, className }) {
  const titleId = uid('chart-title');
  const descId = uid('chart-desc');
  const holder = h('div', { class: 'chart__canvas' });
  const figure = h('figure', { class: ['chart', className] },
    h('figcaption', { class: 'chart__caption' },
      h('span', { id: titleId, class: 'chart__title' }, title),
      h('span', { id: descId, class: 'visually-hidden' }, description)),
    holder,
    legend,
    table ? h('details', { class: 'chart__data' }, h('summary', {}, 'Show the figures as a table'), table) : null);
  return { figure, holder, titleId, descId };
}

function dataTable(caption, head, rows) {
  const captionId = uid('chart-table');
  return scrollableTable(h('table', { class: 'table' },
    h('caption', { id: captionId, class: 'visually-hidden' }, caption),
    h('thead', {}, h('tr', {}, head.map((cell) => h('th', { scope: 'col' }, cell)))),
    h('tbody', {}, rows.map((row) => h('tr', {}, row.map((cell, i) => (
      i === 0 ? h('th', { scope: 'row' }, cell) : h('td', {}, cell))))))), captionId);
}

const shown = (value) => (value === null || value === undefined ? 'withheld' : String(value));

/**
 * A line chart of several series over the same labelled points.
 *   series: [{ name, values: [number|null, …] }] — null is a gap (e.g. a figure
 *   withheld because too few people answered); labels: one per point.
 *   yMin/yMax: the scale's fixed range; note: text read after the description.
 * @param {{
 *   title: string, labels: (string | number)[], series: { name: string, values: (number | null)[] }[],
 *   yMin?: number, yMax?: number, yStep?: number, note?: string, signal: AbortSignal,
 * }} options
 */
export function lineChart({ title, labels, series, yMin = 0, yMax, yStep = 1, note = '', signal }) {
  const top = yMax ?? Math.max(1, ...series.flatMap((s) => s.values.filter((v) => v !== null)));
  const latest = series.map((s) => {
    const last = [...s.values].reverse().find((v) => v !== null && v !== undefined);
    return `${s.name} ${last === undefined ? 'not shown' : last}`;
  });
  const legend = h('ul', { class: 'chart-legend', 'aria-hidden': 'true' },
    series.map((s, i) => h('li', { class: 'chart-legend__item' }, legendKey(i), s.name)));
  const table = dataTable(title, ['', ...series.map((s) => s.name)],
    labels.map((labelText, i) => [labelText, ...series.map((s) => shown(s.values[i]))]));
  const { figure, holder, titleId, descId } = figureShell({
    title,
    description: `Line chart. Latest: ${latest.join('; ')}. ${note}`,
    legend,
    table,
    className: 'chart--line',
  });

  const draw = (width) => {
    const height = width < 480 ? 220 : 260;
    const m = { top: 16, right: 16, bottom: 34, left: 34 };
    const pw = width - m.left - m.right;
    const ph = height - m.top - m.bottom;
    const n = Math.max(1, labels.length);
    const x = (i) => m.left + (n === 1 ? pw / 2 : (i / (n - 1)) * pw);
    const y = (v) => m.top + ph - ((v - yMin) / (top - yMin || 1)) * ph;
    const root = svg('svg', {
      class: 'chart__svg', width, height, viewBox: `0 0 ${width} ${height}`,
      role: 'img', 'aria-labelledby': titleId, 'aria-describedby': descId, focusable: 'false',
    });
    const grid = svg('g', { class: 'chart__grid' });
    for (let v = yMin; v <= top + 1e-9; v += yStep) {
      grid.append(
        svg('line', { class: v === yMin ? 'chart__axis' : 'chart__gridline', x1: m.left, x2: m.left + pw, y1: y(v), y2: y(v) }),
        svg('text', { class: 'chart__tick', x: m.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, String(Math.round(v * 10) / 10)),
      );
    }
    root.append(grid);
    // Label every k-th point, counted back from the latest so the latest is always labelled.
    const longest = Math.max(...labels.map((l) => String(l).length), 1);
    const every = Math.max(1, Math.ceil(n / Math.max(1, Math.floor(pw / (longest * 7 + 16)))));
    const ticks = svg('g', { class: 'chart__x' });
    labels.forEach((labelText, i) => {
      if ((n - 1 - i) % every !== 0) return;
      const anchor = n > 1 && i === 0 ? 'start' : n > 1 && i === n - 1 ? 'end' : 'middle';
      ticks.append(svg('text', { class: 'chart__tick', x: x(i), y: m.top + ph + 20, 'text-anchor': anchor }, labelText));
    });
    root.append(ticks);
    series.forEach((s, index) => {
      const group = svg('g', { class: `chart__series chart__series--${index % 4}` });
      // A withheld point breaks the line: joining across it would suggest a figure.
      let d = '';
      let pen = false;
      s.values.forEach((v, i) => {
        if (v === null || v === undefined) {
          pen = false;
          return;
        }
        d += `${pen ? 'L' : 'M'}${x(i).toFixed(1)} ${y(v).toFixed(1)}`;
        pen = true;
      });
      if (d) group.append(svg('path', { class: `chart__line chart__line--${index % 4}`, d }));
      s.values.forEach((v, i) => {
        if (v === null || v === undefined) return;
        const shape = marker(index, x(i), y(v));
        shape.append(svg('title', {}, `${s.name}, ${labels[i]}: ${v}`));
        group.append(shape);
      });
      root.append(group);
    });
    return root;
  };
  drawToWidth(holder, draw, signal);
  return figure;
}

/**
 * Horizontal bars, one per row, with an optional limit line per bar.
 *   bars: [{ label, value: number|null, limit?: number, text?: string }]
 * @param {{
 *   title: string, bars: { label: string, value: number | null, limit?: number | null, text?: string }[],
 *   max?: number, unit?: string, limitLabel?: string, note?: string, signal: AbortSignal,
 * }} options
 */
export function barChart({ title, bars, max, unit = '', limitLabel = 'limit', note = '', signal }) {
  const top = max ?? Math.max(1, ...bars.map((b) => Math.max(b.value ?? 0, b.limit ?? 0)));
  const hasLimit = bars.some((b) => b.limit !== undefined && b.limit !== null);
  const legend = h('ul', { class: 'chart-legend', 'aria-hidden': 'true' },
    h('li', { class: 'chart-legend__item' }, legendKey(0), title),
    hasLimit ? h('li', { class: 'chart-legend__item' }, legendKey(1, true), limitLabel) : null);
  const table = dataTable(title, ['', unit || 'Value', ...(hasLimit ? [limitLabel] : [])],
    bars.map((b) => [b.label, b.text ?? shown(b.value), ...(hasLimit ? [shown(b.limit)] : [])]));
  const { figure, holder, titleId, descId } = figureShell({
    title,
    description: `Bar chart. ${bars.map((b) => `${b.label}: ${b.text ?? shown(b.value)}`).join('; ')}. ${note}`,
    legend,
    table,
    className: 'chart--bars',
  });
  const draw = (width) => {
    const rowHeight = 30;
    const m = { top: 8, right: 56, bottom: 8, left: Math.min(200, Math.max(90, width * 0.32)) };
    const height = m.top + m.bottom + rowHeight * Math.max(1, bars.length);
    const pw = width - m.left - m.right;
    const x = (v) => m.left + (v / top) * pw;
    const root = svg('svg', {
      class: 'chart__svg', width, height, viewBox: `0 0 ${width} ${height}`,
      role: 'img', 'aria-labelledby': titleId, 'aria-describedby': descId, focusable: 'false',
    });
    root.append(svg('line', { class: 'chart__axis', x1: m.left, x2: m.left, y1: m.top, y2: height - m.bottom }));
    bars.forEach((b, i) => {
      const y0 = m.top + i * rowHeight;
      const over = b.limit !== undefined && b.limit !== null && b.value !== null && b.value > b.limit;
      const group = svg('g', { class: ['chart__bar-row', over ? 'chart__bar-row--over' : ''].join(' ').trim() });
      const name = b.label.length > 28 ? `${b.label.slice(0, 27)}…` : b.label;
      group.append(svg('text', { class: 'chart__tick', x: m.left - 8, y: y0 + 19, 'text-anchor': 'end' }, name));
      if (b.value !== null && b.value !== undefined) {
        group.append(svg('rect', {
          class: over ? 'chart__bar chart__bar--over' : 'chart__bar',
          x: m.left, y: y0 + 6, width: Math.max(1, x(b.value) - m.left), height: rowHeight - 12,
        }, svg('title', {}, `${b.label}: ${b.text ?? b.value}`)));
      }
      group.append(svg('text', {
        class: 'chart__tick chart__value', x: x(b.value ?? 0) + 6, y: y0 + 19,
      }, b.text ?? shown(b.value)));
      if (b.limit !== undefined && b.limit !== null) {
        group.append(svg('line', {
          class: 'chart__threshold chart__threshold--1', x1: x(b.limit), x2: x(b.limit), y1: y0 + 2, y2: y0 + rowHeight - 2,
        }));
      }
      root.append(group);
    });
    return root;
  };
  drawToWidth(holder, draw, signal);
  return figure;
}
