/**
 * Hand-written SVG line charts: spawn throughput against concurrency (baseline and execvisor), and
 * start rate against the spawning process's resident memory (one line per spawner).
 */
import type { MetricRow } from './scenario.js';

interface Series {
  readonly label: string;
  readonly color: string;
  readonly dash: string;
  /** One value per category; NaN where there is none. */
  readonly values: readonly number[];
}

interface Chart {
  readonly title: string;
  readonly subtitle: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly categories: readonly string[];
  readonly series: readonly Series[];
  /** A logarithmic y axis (for rates that differ by orders of magnitude). */
  readonly log?: boolean;
}

const WIDTH = 700;
const HEIGHT = 420;
const MARGIN = { top: 48, right: 210, bottom: 56, left: 72 };

export function throughputSvg(rows: readonly MetricRow[], subtitle: string): string | null {
  const points = rows
    .filter((row) => row.scenario === 'spawn throughput' && row.baseline !== null && row.execvisor !== null)
    .map((row) => ({
      concurrency: Number(/\d+/.exec(row.metric)?.[0] ?? Number.NaN),
      baseline: row.baseline!,
      execvisor: row.execvisor!,
    }))
    .filter((point) => Number.isFinite(point.concurrency))
    .sort((a, b) => a.concurrency - b.concurrency);
  if (points.length === 0) return null;
  return lineChartSvg({
    title: 'Spawn throughput (/bin/true start→closed)',
    subtitle,
    xLabel: 'concurrency (processes in flight)',
    yLabel: 'starts / s',
    categories: points.map((point) => String(point.concurrency)),
    series: [
      {
        label: 'raw child_process.spawn',
        color: '#888888',
        dash: '6 4',
        values: points.map((p) => p.baseline),
      },
      {
        label: 'execvisor (in-process)',
        color: '#1f6feb',
        dash: '',
        values: points.map((p) => p.execvisor),
      },
    ],
  });
}

const MEMORY_STYLE: Record<string, { color: string; dash: string }> = {
  'raw child_process': { color: '#888888', dash: '6 4' },
  'node-pty': { color: '#b07d2b', dash: '2 4' },
  'runtime, native spawner': { color: '#1f6feb', dash: '' },
  'runtime, node spawner': { color: '#cf222e', dash: '10 3 2 3' },
};

/** The `spawn vs memory` rows (metric `+N GiB · <series>`) as one line per series. */
export function memorySvg(rows: readonly MetricRow[], subtitle: string): string | null {
  const parsed = rows
    .filter((row) => row.scenario === 'spawn vs memory' && row.execvisor !== null)
    .map((row) => {
      const match = /^\+(\d+) GiB · (.+)$/.exec(row.metric);
      return match === null ? null : { level: Number(match[1]), name: match[2]!, value: row.execvisor! };
    })
    .filter((entry) => entry !== null);
  if (parsed.length === 0) return null;
  const levels = [...new Set(parsed.map((entry) => entry.level))].sort((a, b) => a - b);
  const names = [...new Set(parsed.map((entry) => entry.name))];
  return lineChartSvg({
    title: "Start rate against the spawning process's resident memory",
    subtitle,
    xLabel: 'memory held by the spawning process (GiB, touched)',
    yLabel: 'starts / s (/bin/true, 64 in flight), log scale',
    categories: levels.map((level) => `+${level}`),
    log: true,
    series: names.map((name) => ({
      label: name,
      ...(MEMORY_STYLE[name] ?? { color: '#333333', dash: '' }),
      values: levels.map(
        (level) => parsed.find((entry) => entry.level === level && entry.name === name)?.value ?? Number.NaN,
      ),
    })),
  });
}

function lineChartSvg(chart: Chart): string {
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const all = chart.series.flatMap((series) => series.values.filter(Number.isFinite));
  const maxValue = niceCeiling(Math.max(...all));
  const count = chart.categories.length;
  // Categories are spread evenly.
  const x = (index: number) =>
    MARGIN.left + (count === 1 ? plotWidth / 2 : (index * plotWidth) / (count - 1));
  // Log scale: from the power of ten at or below the smallest value to `maxValue`.
  const minLog = chart.log === true ? Math.floor(Math.log10(Math.max(1, Math.min(...all)))) : 0;
  const maxLog = Math.log10(maxValue);
  const y = (value: number) =>
    chart.log === true
      ? MARGIN.top +
        plotHeight -
        ((Math.log10(Math.max(value, 10 ** minLog)) - minLog) / (maxLog - minLog)) * plotHeight
      : MARGIN.top + plotHeight - (value / maxValue) * plotHeight;
  const tickValues =
    chart.log === true
      ? logTicks(minLog, maxValue)
      : Array.from({ length: 6 }, (_, tick) => (maxValue * tick) / 5);

  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    `<text x="${MARGIN.left}" y="22" font-size="15" font-weight="bold">${escape(chart.title)}</text>`,
    `<text x="${MARGIN.left}" y="38" fill="#555">${escape(chart.subtitle)}</text>`,
  );
  for (const value of tickValues) {
    const ty = y(value);
    parts.push(
      `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotWidth}" y1="${ty}" y2="${ty}" stroke="#e5e5e5"/>`,
      `<text x="${MARGIN.left - 8}" y="${ty + 4}" text-anchor="end">${Math.round(value)}</text>`,
    );
  }
  chart.categories.forEach((category, index) => {
    parts.push(
      `<text x="${x(index)}" y="${MARGIN.top + plotHeight + 20}" text-anchor="middle">${escape(category)}</text>`,
    );
  });
  parts.push(
    `<line x1="${MARGIN.left}" x2="${MARGIN.left}" y1="${MARGIN.top}" y2="${MARGIN.top + plotHeight}" stroke="#333"/>`,
    `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotWidth}" y1="${MARGIN.top + plotHeight}" y2="${MARGIN.top + plotHeight}" stroke="#333"/>`,
    `<text x="${MARGIN.left + plotWidth / 2}" y="${HEIGHT - 14}" text-anchor="middle">${escape(chart.xLabel)}</text>`,
    `<text transform="translate(18 ${MARGIN.top + plotHeight / 2}) rotate(-90)" text-anchor="middle">${escape(chart.yLabel)}</text>`,
  );
  chart.series.forEach((series, seriesIndex) => {
    const dash = series.dash === '' ? '' : ` stroke-dasharray="${series.dash}"`;
    const path = series.values
      .map((value, index) => (Number.isFinite(value) ? `${x(index)},${y(value)}` : null))
      .filter((point) => point !== null)
      .map((point, index) => `${index === 0 ? 'M' : 'L'}${point}`)
      .join(' ');
    parts.push(`<path d="${path}" fill="none" stroke="${series.color}" stroke-width="2.5"${dash}/>`);
    series.values.forEach((value, index) => {
      if (!Number.isFinite(value)) return;
      parts.push(
        `<circle cx="${x(index)}" cy="${y(value)}" r="4" fill="${series.color}"/>`,
        `<text x="${x(index) + 6}" y="${y(value) - 6 + (seriesIndex % 2) * 16}" fill="${series.color}" font-size="11">${Math.round(value)}</text>`,
      );
    });
    const ly = MARGIN.top + 10 + seriesIndex * 22;
    const lx = MARGIN.left + plotWidth + 16;
    parts.push(
      `<line x1="${lx}" x2="${lx + 22}" y1="${ly}" y2="${ly}" stroke="${series.color}" stroke-width="2.5"${dash}/>`,
      `<text x="${lx + 28}" y="${ly + 4}" font-size="11">${escape(series.label)}</text>`,
    );
  });
  parts.push('</svg>', '');
  return parts.join('\n');
}

/** 1, 2, 5, 10, 20, 50, … from 10^minLog up to `max`. */
function logTicks(minLog: number, max: number): number[] {
  const ticks: number[] = [];
  for (let power = minLog; 10 ** power <= max; power++) {
    for (const step of [1, 2, 5]) if (step * 10 ** power <= max) ticks.push(step * 10 ** power);
  }
  return ticks;
}

function niceCeiling(value: number): number {
  if (!(value > 0)) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * magnitude >= value) return step * magnitude;
  return 10 * magnitude;
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
