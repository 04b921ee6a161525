/** A hand-written SVG line chart: spawn throughput against concurrency, baseline and execvisor. */
import type { MetricRow } from './scenario.js';

interface Point {
  readonly concurrency: number;
  readonly baseline: number;
  readonly execvisor: number;
}

const WIDTH = 640;
const HEIGHT = 400;
const MARGIN = { top: 48, right: 150, bottom: 56, left: 72 };

export function throughputSvg(rows: readonly MetricRow[], subtitle: string): string | null {
  const points: Point[] = rows
    .filter((row) => row.scenario === 'spawn throughput' && row.baseline !== null && row.execvisor !== null)
    .map((row) => ({
      concurrency: Number(/\d+/.exec(row.metric)?.[0] ?? Number.NaN),
      baseline: row.baseline!,
      execvisor: row.execvisor!,
    }))
    .filter((point) => Number.isFinite(point.concurrency))
    .sort((a, b) => a.concurrency - b.concurrency);
  if (points.length === 0) return null;

  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const maxValue = niceCeiling(Math.max(...points.flatMap((point) => [point.baseline, point.execvisor])));
  // Concurrency levels are spread evenly (they are categories: 1, 64, 256).
  const x = (index: number) =>
    MARGIN.left + (points.length === 1 ? plotWidth / 2 : (index * plotWidth) / (points.length - 1));
  const y = (value: number) => MARGIN.top + plotHeight - (value / maxValue) * plotHeight;

  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    `<text x="${MARGIN.left}" y="22" font-size="15" font-weight="bold">Spawn throughput (/bin/true start→closed)</text>`,
    `<text x="${MARGIN.left}" y="38" fill="#555">${escape(subtitle)}</text>`,
  );
  const ticks = 5;
  for (let tick = 0; tick <= ticks; tick++) {
    const value = (maxValue * tick) / ticks;
    const ty = y(value);
    parts.push(
      `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotWidth}" y1="${ty}" y2="${ty}" stroke="#e5e5e5"/>`,
      `<text x="${MARGIN.left - 8}" y="${ty + 4}" text-anchor="end">${Math.round(value)}</text>`,
    );
  }
  points.forEach((point, index) => {
    parts.push(
      `<text x="${x(index)}" y="${MARGIN.top + plotHeight + 20}" text-anchor="middle">${point.concurrency}</text>`,
    );
  });
  parts.push(
    `<line x1="${MARGIN.left}" x2="${MARGIN.left}" y1="${MARGIN.top}" y2="${MARGIN.top + plotHeight}" stroke="#333"/>`,
    `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotWidth}" y1="${MARGIN.top + plotHeight}" y2="${MARGIN.top + plotHeight}" stroke="#333"/>`,
    `<text x="${MARGIN.left + plotWidth / 2}" y="${HEIGHT - 14}" text-anchor="middle">concurrency (processes in flight)</text>`,
    `<text transform="translate(18 ${MARGIN.top + plotHeight / 2}) rotate(-90)" text-anchor="middle">starts / s</text>`,
  );
  const series = [
    { key: 'baseline' as const, label: 'raw child_process.spawn', color: '#888888', dash: '6 4' },
    { key: 'execvisor' as const, label: 'execvisor (in-process)', color: '#1f6feb', dash: '' },
  ];
  series.forEach((entry, seriesIndex) => {
    const path = points
      .map((point, index) => `${index === 0 ? 'M' : 'L'}${x(index)},${y(point[entry.key])}`)
      .join(' ');
    parts.push(
      `<path d="${path}" fill="none" stroke="${entry.color}" stroke-width="2.5"${entry.dash === '' ? '' : ` stroke-dasharray="${entry.dash}"`}/>`,
    );
    points.forEach((point, index) => {
      const value = point[entry.key];
      parts.push(
        `<circle cx="${x(index)}" cy="${y(value)}" r="4" fill="${entry.color}"/>`,
        `<text x="${x(index) + 6}" y="${y(value) - 8 + seriesIndex * 22}" fill="${entry.color}">${Math.round(value)}</text>`,
      );
    });
    const ly = MARGIN.top + 10 + seriesIndex * 22;
    const lx = MARGIN.left + plotWidth + 16;
    parts.push(
      `<line x1="${lx}" x2="${lx + 22}" y1="${ly}" y2="${ly}" stroke="${entry.color}" stroke-width="2.5"${entry.dash === '' ? '' : ` stroke-dasharray="${entry.dash}"`}/>`,
      `<text x="${lx + 28}" y="${ly + 4}" font-size="11">${escape(entry.label)}</text>`,
    );
  });
  parts.push('</svg>', '');
  return parts.join('\n');
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
