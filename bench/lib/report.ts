/** The stdout table and the JSON document. */
import { cpus, totalmem } from 'node:os';
import { availableParallelism } from 'node:os';
import type { BenchConfig, MetricRow } from './scenario.js';
import { formatNumber } from './stats.js';

export interface MachineInfo {
  readonly cpus: number;
  readonly cpuModel: string;
  readonly memoryGiB: number;
  readonly node: string;
  readonly platform: string;
}

export function machineInfo(): MachineInfo {
  return {
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  };
}

const HEADERS = ['scenario', 'metric', 'baseline', 'execvisor', 'ratio', 'target', 'status'] as const;

export function tableCells(row: MetricRow): string[] {
  return [
    row.scenario,
    row.metric,
    formatNumber(row.baseline, row.unit),
    formatNumber(row.execvisor, row.unit),
    row.ratio === null || !Number.isFinite(row.ratio) ? '—' : `${row.ratio.toFixed(2)}×`,
    row.target?.label ?? '',
    row.status === 'met'
      ? 'met'
      : row.status === 'missed'
        ? 'MISSED'
        : row.status === 'skipped'
          ? 'skipped'
          : '',
  ];
}

export function renderTable(rows: readonly MetricRow[]): string {
  const cells = rows.map(tableCells);
  const widths = HEADERS.map((header, column) =>
    Math.max(header.length, ...cells.map((line) => [...(line[column] ?? '')].length)),
  );
  const pad = (text: string, width: number) => text + ' '.repeat(Math.max(0, width - [...text].length));
  const line = (values: readonly string[]) =>
    values.map((value, column) => pad(value, widths[column]!)).join('  ');
  const out = [line(HEADERS), widths.map((width) => '─'.repeat(width)).join('  '), ...cells.map(line)];
  const notes = rows
    .filter((row) => row.note !== undefined)
    .map((row) => `  ${row.scenario} / ${row.metric}: ${row.note}`);
  if (notes.length > 0) out.push('', 'notes:', ...notes);
  return out.join('\n');
}

/** The same table as Markdown, for docs/benchmarks.md. */
export function renderMarkdown(rows: readonly MetricRow[]): string {
  const cells = rows.map(tableCells);
  return [
    `| ${HEADERS.join(' | ')} |`,
    `|${HEADERS.map(() => '---').join('|')}|`,
    ...cells.map((line) => `| ${line.join(' | ')} |`),
  ].join('\n');
}

export function jsonDocument(
  config: BenchConfig,
  backend: string,
  rows: readonly MetricRow[],
  argv: readonly string[],
) {
  return {
    generatedAt: new Date().toISOString(),
    command: argv.join(' '),
    machine: machineInfo(),
    backend,
    config,
    results: rows,
  };
}
