/**
 * The panel's charts, drawn as SVG by hand: grouped bars, lines, a gauge, box plots and plain bars.
 * A charting library would cost more than the whole panel for these few shapes. Colours come from CSS
 * classes (`c-blue`, `c-red`, … in media/panel.css) that map to VS Code's `--vscode-charts-*` theme
 * variables, so a theme change recolours the charts without redrawing them. Each SVG has a fixed
 * viewBox and scales with the panel's width.
 */
import { el, svg, svgTitle } from './dom';

export interface Series {
  name: string;
  /** Colour class from media/panel.css, e.g. `c-blue`. */
  cls: string;
  values: number[];
}

interface Margin {
  top: number;
  right: number;
  bottom: number;
  left: number;
}

function scale(d0: number, d1: number, r0: number, r1: number): (v: number) => number {
  const span = d1 - d0 || 1;
  return (v) => r0 + ((v - d0) / span) * (r1 - r0);
}

/** The smallest 1, 2 or 5 × 10^k at or above `value`, so axes end on a round number. */
export function niceMax(value: number): number {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) {
    if (step * power >= value - 1e-12) return step * power;
  }
  return 10 * power;
}

function frame(width: number, height: number, label: string): SVGSVGElement {
  return svg('svg', {
    class: 'chart',
    attrs: { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': label },
  });
}

/** Horizontal grid lines with their values on the left. */
function yAxis(root: SVGElement, m: Margin, width: number, y: (v: number) => number, max: number, format: (v: number) => string): void {
  const count = 4;
  for (let i = 0; i <= count; i++) {
    const value = (max * i) / count;
    const py = y(value);
    root.append(
      svg('line', { class: i === 0 ? 'axis' : 'grid', attrs: { x1: m.left, x2: width - m.right, y1: py, y2: py } }),
      svg('text', { class: 'tick', attrs: { x: m.left - 6, y: py + 4, 'text-anchor': 'end' } }, format(value)),
    );
  }
}

export function legend(series: Array<{ name: string; cls: string }>): HTMLElement {
  const list = el('ul', { class: 'legend' });
  for (const s of series) list.append(el('li', undefined, el('span', { class: `swatch ${s.cls}`, attrs: { 'aria-hidden': 'true' } }), s.name));
  return list;
}

export interface GroupedBarsOptions {
  categories: string[];
  series: Series[];
  /** Category drawn on a highlighted band (the target label). */
  highlight?: number;
  yMax?: number;
  yFormat: (v: number) => string;
  label: string;
  /** Width to fill; the chart grows beyond it (and scrolls) only when the classes need more room. */
  width: number;
}

/** One group of bars per category, one bar per series; used for the per-class prediction histograms. */
export function groupedBars(o: GroupedBarsOptions): SVGSVGElement {
  const n = o.categories.length;
  const longest = Math.min(18, Math.max(0, ...o.categories.map((c) => c.length)));
  const left = 48;
  const right = 10;
  const group = Math.max(14, o.series.length * 7 + 8);
  const width = Math.max(o.width, left + right + n * group);
  const step = (width - left - right) / Math.max(1, n);
  // Labels turn when they would not fit under their group (about 6.5 px per character at 11 px).
  const rotate = longest * 6.5 > step - 4;
  const m: Margin = { top: 10, right, bottom: rotate ? 18 + longest * 5 : 28, left };
  const height = 190 + m.bottom;
  const max = o.yMax ?? niceMax(Math.max(0, ...o.series.flatMap((s) => s.values)));
  const y = scale(0, max, height - m.bottom, m.top);
  const barWidth = Math.max(2, Math.min(22, (step - 8) / o.series.length));
  const root = frame(width, height, o.label);

  if (o.highlight !== undefined && o.highlight >= 0 && o.highlight < n) {
    root.append(svg('rect', { class: 'highlight-band', attrs: { x: m.left + o.highlight * step + 1, y: m.top, width: step - 2, height: height - m.bottom - m.top } }));
  }
  yAxis(root, m, width, y, max, o.yFormat);
  for (let c = 0; c < n; c++) {
    const x0 = m.left + c * step + (step - barWidth * o.series.length) / 2;
    o.series.forEach((s, i) => {
      const value = s.values[c] ?? 0;
      const top = y(Math.min(value, max));
      root.append(
        svg('rect', { class: `bar ${s.cls}`, attrs: { x: x0 + i * barWidth, y: top, width: Math.max(1, barWidth - 1), height: Math.max(0, y(0) - top) } },
          svgTitle(`${s.name} · ${o.categories[c]}: ${o.yFormat(value)}`)),
      );
    });
    const cx = m.left + (c + 0.5) * step;
    const ty = height - m.bottom + 14;
    const text = svg('text', {
      class: c === o.highlight ? 'tick highlight-label' : 'tick',
      attrs: rotate ? { x: cx, y: ty - 4, 'text-anchor': 'end', transform: `rotate(-40 ${cx} ${ty - 4})` } : { x: cx, y: ty, 'text-anchor': 'middle' },
    }, o.categories[c].length > 18 ? `${o.categories[c].slice(0, 17)}…` : o.categories[c]);
    if (o.categories[c].length > 18) text.append(svgTitle(o.categories[c]));
    root.append(text);
  }
  return root;
}

export interface LineSeries {
  name: string;
  cls: string;
  ys: number[];
  /** Tooltip per point; defaults to the series name and the two values. */
  titles?: string[];
}

export interface LineChartOptions {
  xs: number[];
  series: LineSeries[];
  xFormat: (v: number) => string;
  yFormat: (v: number) => string;
  yMax?: number;
  /** A dashed vertical line, e.g. the ε the scan used. */
  marker?: { x: number; label: string };
  /** Draw a dot per point (few points) or only the line (hundreds of points). */
  dots: boolean;
  xTicks?: number[];
  label: string;
  width?: number;
  height?: number;
}

export function lineChart(o: LineChartOptions): SVGSVGElement {
  const width = o.width ?? 480;
  const height = o.height ?? 200;
  const m: Margin = { top: 12, right: 14, bottom: 30, left: 48 };
  const xMin = Math.min(...o.xs);
  const xMax = Math.max(...o.xs);
  const max = o.yMax ?? niceMax(Math.max(0, ...o.series.flatMap((s) => s.ys)));
  const x = scale(xMin, xMax === xMin ? xMin + 1 : xMax, m.left, width - m.right);
  const y = scale(0, max, height - m.bottom, m.top);
  const root = frame(width, height, o.label);
  yAxis(root, m, width, y, max, o.yFormat);
  for (const t of o.xTicks ?? o.xs) {
    root.append(svg('text', { class: 'tick', attrs: { x: x(t), y: height - m.bottom + 16, 'text-anchor': 'middle' } }, o.xFormat(t)));
  }
  if (o.marker) {
    const mx = x(o.marker.x);
    root.append(
      svg('line', { class: 'marker', attrs: { x1: mx, x2: mx, y1: m.top, y2: height - m.bottom } }),
      // The label sits right of the line, or left of it when the line is near the right edge.
      svg('text', { class: 'tick marker-label', attrs: mx > width - 90 ? { x: mx - 4, y: m.top + 10, 'text-anchor': 'end' } : { x: mx + 4, y: m.top + 10 } }, o.marker.label),
    );
  }
  for (const s of o.series) {
    const points = o.xs.map((xv, i) => `${x(xv).toFixed(1)},${y(Math.min(s.ys[i] ?? 0, max)).toFixed(1)}`);
    root.append(svg('polyline', { class: `line ${s.cls}`, attrs: { points: points.join(' ') } }));
    if (o.dots) {
      o.xs.forEach((xv, i) => {
        root.append(svg('circle', { class: `dot ${s.cls}`, attrs: { cx: x(xv), cy: y(Math.min(s.ys[i] ?? 0, max)), r: 3.5 } },
          svgTitle(s.titles?.[i] ?? `${s.name} at ${o.xFormat(xv)}: ${o.yFormat(s.ys[i] ?? 0)}`)));
      });
    }
  }
  return root;
}

export interface GaugeOptions {
  score: number;
  threshold: number;
  band: [number, number];
  /** Colour class of the score marker (the verdict's colour). */
  cls: string;
  format: (v: number) => string;
}

/**
 * The score on a horizontal scale: below the inconclusive band reads clean, inside it inconclusive,
 * above it backdoored; the threshold is a tick and the score a marker with its value.
 */
export function gauge(o: GaugeOptions): SVGSVGElement {
  const width = 520;
  const height = 64;
  const m: Margin = { top: 22, right: 16, bottom: 20, left: 16 };
  const lo = Math.min(0, o.score, o.band[0], o.threshold);
  const hiRaw = Math.max(1, o.score, o.band[1], o.threshold);
  const pad = (hiRaw - lo) * 0.05;
  const x = scale(lo, hiRaw + pad, m.left, width - m.right);
  const top = m.top;
  const barHeight = height - m.top - m.bottom;
  const root = frame(width, height, `Score ${o.format(o.score)}, threshold ${o.format(o.threshold)}`);
  const zone = (from: number, to: number, cls: string, name: string): SVGRectElement =>
    svg('rect', { class: `zone ${cls}`, attrs: { x: x(from), y: top, width: Math.max(0, x(to) - x(from)), height: barHeight } }, svgTitle(name));
  root.append(
    zone(lo, o.band[0], 'c-green', `clean below ${o.format(o.band[0])}`),
    zone(o.band[0], o.band[1], 'c-yellow', `inconclusive from ${o.format(o.band[0])} to ${o.format(o.band[1])}`),
    zone(o.band[1], hiRaw + pad, 'c-red', `backdoored above ${o.format(o.band[1])}`),
    svg('text', { class: 'zone-label', attrs: { x: x(lo) + 6, y: top + barHeight / 2 + 4 } }, 'clean'),
    svg('text', { class: 'zone-label', attrs: { x: x(hiRaw + pad) - 6, y: top + barHeight / 2 + 4, 'text-anchor': 'end' } }, 'backdoored'),
  );
  const tx = x(o.threshold);
  root.append(
    svg('line', { class: 'threshold', attrs: { x1: tx, x2: tx, y1: top - 4, y2: top + barHeight + 4 } }),
    svg('text', { class: 'tick', attrs: { x: tx, y: height - 4, 'text-anchor': 'middle' } }, `threshold ${o.format(o.threshold)}`),
  );
  const sx = x(o.score);
  root.append(
    svg('path', { class: `score-marker ${o.cls}`, attrs: { d: `M${sx - 7},${top - 12} L${sx + 7},${top - 12} L${sx},${top - 1} Z` } }),
    svg('line', { class: `score-line ${o.cls}`, attrs: { x1: sx, x2: sx, y1: top, y2: top + barHeight } }),
    svg('text', { class: 'gauge-value', attrs: { x: Math.min(Math.max(sx, 40), width - 40), y: top - 14, 'text-anchor': 'middle' } }, `score ${o.format(o.score)}`),
  );
  return root;
}

/** The five-number summary used by the box plots. */
export function quartiles(values: number[]): { min: number; q1: number; median: number; q3: number; max: number } {
  const sorted = Float64Array.from(values).sort();
  const at = (q: number): number => {
    if (sorted.length === 0) return 0;
    const pos = (sorted.length - 1) * q;
    const lo = Math.floor(pos);
    const hi = Math.ceil(pos);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
  };
  return { min: at(0), q1: at(0.25), median: at(0.5), q3: at(0.75), max: at(1) };
}

/** A compact box plot on [0, max]: whiskers from min to max, box from q1 to q3, median line. */
export function boxPlot(values: number[], max: number, cls: string, label: string, format: (v: number) => string): SVGSVGElement {
  const width = 200;
  const height = 18;
  const x = scale(0, max, 4, width - 4);
  const q = quartiles(values);
  const mid = height / 2;
  const root = frame(width, height, label);
  root.classList.add('inline-chart');
  root.append(
    svg('line', { class: 'whisker', attrs: { x1: x(q.min), x2: x(q.max), y1: mid, y2: mid } }),
    svg('line', { class: 'whisker', attrs: { x1: x(q.min), x2: x(q.min), y1: mid - 4, y2: mid + 4 } }),
    svg('line', { class: 'whisker', attrs: { x1: x(q.max), x2: x(q.max), y1: mid - 4, y2: mid + 4 } }),
    svg('rect', { class: `box ${cls}`, attrs: { x: x(q.q1), y: 3, width: Math.max(1, x(q.q3) - x(q.q1)), height: height - 6 } }),
    svg('line', { class: 'median', attrs: { x1: x(q.median), x2: x(q.median), y1: 2, y2: height - 2 } }),
  );
  root.append(svgTitle(`${label}: min ${format(q.min)}, quartiles ${format(q.q1)} / ${format(q.median)} / ${format(q.q3)}, max ${format(q.max)}`));
  return root;
}

/** One horizontal bar on [0, max], for a value inside a table row. */
export function hbar(value: number, max: number, cls: string, label: string): SVGSVGElement {
  const width = 160;
  const height = 14;
  const root = frame(width, height, label);
  root.classList.add('inline-chart');
  const w = max > 0 ? (Math.max(0, Math.min(value, max)) / max) * width : 0;
  root.append(svg('rect', { class: 'track', attrs: { x: 0, y: 2, width, height: height - 4 } }));
  root.append(svg('rect', { class: `bar ${cls}`, attrs: { x: 0, y: 2, width: w, height: height - 4 } }, svgTitle(label)));
  return root;
}

/** Parts of a whole laid end to end, e.g. benign vs backdoor share, or time per phase. */
export function stackedBar(parts: Array<{ name: string; value: number; cls: string }>, label: string, format: (v: number) => string): SVGSVGElement {
  const width = 520;
  const height = 18;
  const total = parts.reduce((sum, p) => sum + Math.max(0, p.value), 0) || 1;
  const root = frame(width, height, label);
  root.classList.add('stacked');
  let x = 0;
  for (const p of parts) {
    const w = (Math.max(0, p.value) / total) * width;
    root.append(svg('rect', { class: `bar ${p.cls}`, attrs: { x, y: 0, width: Math.max(0, w - 1), height } }, svgTitle(`${p.name}: ${format(p.value)}`)));
    x += w;
  }
  return root;
}

export interface ScatterOptions {
  xs: number[];
  ys: number[];
  /** Points drawn on top in the highlight colour, e.g. the channels with the largest gaps. */
  highlight: Set<number>;
  pointTitle: (i: number) => string;
  xLabel: string;
  yLabel: string;
  label: string;
}

/**
 * Points on equal axes with the diagonal y = x: points far above it are larger on the y quantity
 * (activations on the target class) than on the x quantity (activations on the other classes).
 */
export function scatter(o: ScatterOptions): SVGSVGElement {
  const size = 340;
  const m: Margin = { top: 10, right: 12, bottom: 40, left: 52 };
  const max = niceMax(Math.max(0, ...o.xs, ...o.ys));
  const x = scale(0, max, m.left, size - m.right);
  const y = scale(0, max, size - m.bottom, m.top);
  const root = frame(size, size, o.label);
  yAxis(root, m, size, y, max, (v) => Number(v.toPrecision(3)).toString());
  for (let i = 1; i <= 4; i++) {
    const v = (max * i) / 4;
    root.append(svg('text', { class: 'tick', attrs: { x: x(v), y: size - m.bottom + 15, 'text-anchor': 'middle' } }, Number(v.toPrecision(3)).toString()));
  }
  root.append(
    svg('line', { class: 'diagonal', attrs: { x1: x(0), y1: y(0), x2: x(max), y2: y(max) } }),
    svg('text', { class: 'tick axis-title', attrs: { x: (m.left + size - m.right) / 2, y: size - 6, 'text-anchor': 'middle' } }, o.xLabel),
    svg('text', { class: 'tick axis-title', attrs: { x: 12, y: (m.top + size - m.bottom) / 2, 'text-anchor': 'middle', transform: `rotate(-90 12 ${(m.top + size - m.bottom) / 2})` } }, o.yLabel),
  );
  const order = o.xs.map((_, i) => i).sort((a, b) => Number(o.highlight.has(a)) - Number(o.highlight.has(b)));
  for (const i of order) {
    const hot = o.highlight.has(i);
    root.append(svg('circle', { class: hot ? 'dot c-red' : 'dot faint c-blue', attrs: { cx: x(o.xs[i]), cy: y(o.ys[i]), r: hot ? 4 : 2.5 } }, svgTitle(o.pointTitle(i))));
  }
  return root;
}
