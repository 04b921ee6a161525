/**
 * A strict parser of the Prometheus text exposition format (0.0.4) for tests of `GET /metrics`.
 * It throws on anything a scraper could misread: a sample before its `# TYPE`, a family split in
 * two, a sample name that does not belong to its family, a duplicate series, a bad label or value,
 * and two families that are one family under the OpenMetrics rules (a counter `x_total` belongs to
 * family `x`, so a gauge `x` beside it collides; a histogram `h` owns `h_bucket`, `h_sum`, `h_count`).
 */

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Family {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string;
  readonly samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set<MetricType>(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function fail(line: number, why: string, text: string): never {
  throw new Error(`metrics line ${line}: ${why}: ${text}`);
}

/** Values as Prometheus reads them (Go's ParseFloat: `NaN`, `+Inf` in any letter case). */
function parseValue(text: string, line: number, raw: string): number {
  const lower = text.toLowerCase();
  if (lower === '+inf' || lower === 'inf') return Number.POSITIVE_INFINITY;
  if (lower === '-inf') return Number.NEGATIVE_INFINITY;
  if (lower === 'nan') return Number.NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text))
    fail(line, `bad value ${JSON.stringify(text)}`, raw);
  return Number(text);
}

/** `{a="1",b="x\"y"}` → record; index just past the closing brace. */
function parseLabels(text: string, start: number, line: number): [Record<string, string>, number] {
  const labels: Record<string, string> = {};
  let i = start + 1;
  for (;;) {
    if (text[i] === '}') return [labels, i + 1];
    const eq = text.indexOf('=', i);
    if (eq < 0) fail(line, 'label without =', text);
    const name = text.slice(i, eq);
    if (!LABEL_NAME.test(name)) fail(line, `bad label name ${JSON.stringify(name)}`, text);
    if (name in labels) fail(line, `duplicate label ${name}`, text);
    if (text[eq + 1] !== '"') fail(line, 'label value must be quoted', text);
    let value = '';
    let j = eq + 2;
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] !== '\\') {
        value += text[j];
        continue;
      }
      const escaped = text[++j];
      if (escaped === 'n') value += '\n';
      else if (escaped === '\\' || escaped === '"') value += escaped;
      else fail(line, `bad escape \\${escaped}`, text);
    }
    if (j >= text.length) fail(line, 'unterminated label value', text);
    labels[name] = value;
    i = j + 1;
    if (text[i] === ',') i++;
    else if (text[i] !== '}') fail(line, 'expected , or } after a label', text);
  }
}

/** The family a sample name belongs to, given the family it appears under. */
function belongs(sample: string, family: Family): boolean {
  switch (family.type) {
    case 'histogram':
      return [`${family.name}_bucket`, `${family.name}_sum`, `${family.name}_count`].includes(sample);
    case 'summary':
      return [family.name, `${family.name}_sum`, `${family.name}_count`].includes(sample);
    default:
      return sample === family.name;
  }
}

/** Every name the family occupies under the OpenMetrics rules. */
function occupiedNames(family: Family): string[] {
  switch (family.type) {
    case 'counter':
      return family.name.endsWith('_total')
        ? [family.name.slice(0, -'_total'.length), family.name, `${family.name.slice(0, -6)}_created`]
        : [family.name, `${family.name}_total`, `${family.name}_created`];
    case 'histogram':
      return [family.name, `${family.name}_bucket`, `${family.name}_sum`, `${family.name}_count`];
    case 'summary':
      return [family.name, `${family.name}_sum`, `${family.name}_count`];
    default:
      return [family.name];
  }
}

export function parsePrometheusText(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const series = new Set<string>();
  let current: Family | null = null;
  const lines = text.split('\n');
  if (lines.at(-1) !== '') throw new Error('metrics text must end with a newline');
  lines.pop();
  const familyOf = (name: string, line: number, raw: string): Family => {
    let family = families.get(name);
    if (family === undefined) {
      family = { name, type: 'untyped', help: '', samples: [] };
      families.set(name, family);
    } else if (family !== current || family.samples.length > 0) {
      fail(line, `family ${name} is not contiguous, or its metadata follows its samples`, raw);
    }
    current = family;
    return family;
  };
  lines.forEach((raw, index) => {
    const line = index + 1;
    if (raw.trim() === '') return;
    if (raw.startsWith('#')) {
      const match = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(raw);
      if (match === null) return; // a plain comment
      const [, keyword, name, rest = ''] = match;
      if (!NAME.test(name!)) fail(line, 'bad metric name', raw);
      const family = familyOf(name!, line, raw) as { type: MetricType; help: string };
      if (keyword === 'TYPE') {
        if (!TYPES.has(rest as MetricType)) fail(line, `unknown type ${rest}`, raw);
        family.type = rest as MetricType;
      } else {
        family.help = rest;
      }
      return;
    }
    const nameEnd = raw.search(/[{ ]/);
    if (nameEnd <= 0) fail(line, 'no sample name', raw);
    const name = raw.slice(0, nameEnd);
    if (!NAME.test(name)) fail(line, 'bad sample name', raw);
    let labels: Record<string, string> = {};
    let rest = nameEnd;
    if (raw[nameEnd] === '{') [labels, rest] = parseLabels(raw, nameEnd, line);
    if (raw[rest] !== ' ') fail(line, 'expected a space before the value', raw);
    const parts = raw.slice(rest + 1).split(' ');
    if (parts.length > 2) fail(line, 'trailing text after the timestamp', raw);
    const value = parseValue(parts[0]!, line, raw);
    if (current === null || !belongs(name, current)) fail(line, `sample outside its family's block`, raw);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (series.has(key)) fail(line, 'duplicate series', raw);
    series.add(key);
    current.samples.push({ name, labels, value });
  });
  const owner = new Map<string, string>();
  for (const family of families.values()) {
    for (const name of occupiedNames(family)) {
      const other = owner.get(name);
      if (other !== undefined && other !== family.name) {
        throw new Error(`families ${other} and ${family.name} collide on ${name}`);
      }
      owner.set(name, family.name);
    }
    if (family.type === 'histogram') checkHistogram(family);
  }
  return families;
}

/** Buckets ascend, counts never decrease, and the +Inf bucket equals `_count`, per label set. */
function checkHistogram(family: Family): void {
  const byLabels = new Map<string, { le: number; value: number }[]>();
  const counts = new Map<string, number>();
  for (const sample of family.samples) {
    const { le, ...rest } = sample.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    if (sample.name.endsWith('_bucket')) {
      if (le === undefined) throw new Error(`${family.name}: a bucket without le`);
      const list = byLabels.get(key) ?? [];
      list.push({ le: le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le), value: sample.value });
      byLabels.set(key, list);
    } else if (sample.name.endsWith('_count')) {
      counts.set(key, sample.value);
    }
  }
  for (const [key, buckets] of byLabels) {
    for (let i = 1; i < buckets.length; i++) {
      if (!(buckets[i]!.le > buckets[i - 1]!.le) || buckets[i]!.value < buckets[i - 1]!.value) {
        throw new Error(`${family.name}${key}: buckets out of order`);
      }
    }
    const last = buckets.at(-1);
    if (last?.le !== Number.POSITIVE_INFINITY || last.value !== counts.get(key)) {
      throw new Error(`${family.name}${key}: the +Inf bucket must equal _count`);
    }
  }
}

/** The value of one series (labels must match exactly), or undefined. */
export function sampleValue(
  families: Map<string, Family>,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const want = JSON.stringify(Object.entries(labels).sort());
  for (const family of families.values()) {
    for (const sample of family.samples) {
      if (sample.name === name && JSON.stringify(Object.entries(sample.labels).sort()) === want) {
        return sample.value;
      }
    }
  }
  return undefined;
}
