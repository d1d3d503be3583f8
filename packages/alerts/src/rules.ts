import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { checkTemplate, type Labels } from './model.js';

/**
 * Alert rules (docs/alerting.md, "Rules"): the kinds Pulse evaluates, the built-in rules, and the rules
 * file, validated once at start with errors that name the rule and the field.
 */
export const RULE_KINDS = ['user_activity', 'sensor_anomaly', 'sensor_silent', 'revenue_drop', 'dead_letter_rate', 'consumer_lag', 'latency_p95'] as const;
export type RuleKind = (typeof RULE_KINDS)[number];

interface RuleBase {
  /** The alert name: the `alertname` label. */
  readonly name: string;
  readonly forMs: number;
  readonly keepFiringForMs: number;
  /** Labels of every alert of the rule, `alertname` and `severity` included. */
  readonly labels: Labels;
  /** Annotation templates ({{ $labels.x }}, {{ $value }}). */
  readonly annotations: Labels;
}

export type Rule =
  | (RuleBase & { kind: 'user_activity'; threshold: number })
  | (RuleBase & { kind: 'sensor_anomaly'; metric: string | null; anomalyScoreAbove: number | null; valueAbove: number | null; valueBelow: number | null })
  | (RuleBase & { kind: 'sensor_silent'; metric: string | null; silentForMs: number })
  | (RuleBase & { kind: 'revenue_drop'; currency: string | null; share: number; baselineMs: number; minBaseline: number })
  | (RuleBase & { kind: 'dead_letter_rate'; threshold: number; windowMs: number })
  | (RuleBase & { kind: 'consumer_lag'; group: string; threshold: number })
  | (RuleBase & { kind: 'latency_p95'; thresholdMs: number; windowMs: number });

/** A rule that does not validate: names the rule (or its position) and the field. */
export class RuleError extends Error {
  override readonly name = 'RuleError';
  constructor(
    readonly rule: string,
    readonly field: string,
    message: string,
    readonly source = 'rules',
  ) {
    super(`alert rule ${rule} (${source}), field ${field}: ${message}`);
  }
}

const DURATION = /^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$/;

/** Parses Prometheus-style durations (`90s`, `5m`, `1h30m`, `250ms`) or a number of milliseconds. */
export function parseDuration(raw: unknown): number | null {
  if (typeof raw === 'number') return Number.isSafeInteger(raw) && raw >= 0 ? raw : null;
  if (typeof raw !== 'string' || raw === '') return null;
  const m = DURATION.exec(raw.trim());
  if (m === null) return null;
  const [, h, min, s, ms] = m.map((x) => (x === undefined ? 0 : Number(x)));
  return h! * 3_600_000 + min! * 60_000 + s! * 1000 + ms!;
}

const LABEL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const COMMON_FIELDS = ['alert', 'kind', 'for', 'keep_firing_for', 'severity', 'labels', 'annotations'];
const KIND_FIELDS: Record<RuleKind, readonly string[]> = {
  user_activity: ['threshold'],
  sensor_anomaly: ['metric', 'anomalyScoreAbove', 'valueAbove', 'valueBelow'],
  sensor_silent: ['metric', 'silentFor'],
  revenue_drop: ['currency', 'share', 'baseline', 'minBaseline'],
  dead_letter_rate: ['threshold', 'window'],
  consumer_lag: ['group', 'threshold'],
  latency_p95: ['threshold', 'window'],
};

/** Validates one rule as written in a rules file. `where` names it before its name is known. */
export function parseRule(raw: unknown, where: string, source = 'rules'): Rule {
  const fail = (rule: string, field: string, message: string): never => {
    throw new RuleError(rule, field, message, source);
  };
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail(where, '(rule)', 'expected an object');
  const r = raw as Record<string, unknown>;
  if (typeof r.alert !== 'string' || !LABEL_NAME.test(r.alert)) fail(where, 'alert', `expected a name such as "BotTraffic" (letters, digits, _), got ${JSON.stringify(r.alert)}`);
  const name = r.alert as string;
  const at = `"${name}"`;
  if (!RULE_KINDS.includes(r.kind as RuleKind)) fail(at, 'kind', `must be one of ${RULE_KINDS.join(', ')}, got ${JSON.stringify(r.kind)}`);
  const kind = r.kind as RuleKind;
  for (const field of Object.keys(r)) {
    if (!COMMON_FIELDS.includes(field) && !KIND_FIELDS[kind].includes(field)) {
      fail(at, field, `unknown field for kind ${kind}; known: ${[...COMMON_FIELDS, ...KIND_FIELDS[kind]].join(', ')}`);
    }
  }
  const duration = (field: string, fallback: number | null): number => {
    if (r[field] === undefined && fallback !== null) return fallback;
    const d = parseDuration(r[field]);
    return d ?? fail(at, field, `expected a duration such as "30s", "5m" or milliseconds, got ${JSON.stringify(r[field])}`);
  };
  const number = (field: string, min: number, integer: boolean): number | null => {
    const v = r[field];
    if (v === undefined) return null;
    if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isSafeInteger(v))) fail(at, field, `expected ${integer ? 'an integer' : 'a number'}, got ${JSON.stringify(v)}`);
    if ((v as number) < min) fail(at, field, `must be at least ${min}, got ${String(v)}`);
    return v as number;
  };
  const required = (field: string, min: number, integer: boolean): number => number(field, min, integer) ?? fail(at, field, 'is required');
  const stringField = (field: string, fallback: string | null): string | null => {
    const v = r[field];
    if (v === undefined) return fallback;
    if (typeof v !== 'string' || v === '') fail(at, field, `expected a non-empty string, got ${JSON.stringify(v)}`);
    return v as string;
  };
  const labelMap = (field: string): Record<string, string> => {
    const v = r[field];
    if (v === undefined) return {};
    if (v === null || typeof v !== 'object' || Array.isArray(v)) fail(at, field, 'expected an object of strings');
    const out: Record<string, string> = {};
    for (const [k, x] of Object.entries(v as object)) {
      if (!LABEL_NAME.test(k)) fail(at, `${field}.${k}`, 'not a valid label name (letters, digits, _)');
      if (typeof x !== 'string') fail(at, `${field}.${k}`, `expected a string, got ${JSON.stringify(x)}`);
      if (field === 'annotations') {
        const problem = checkTemplate(x as string);
        if (problem !== null) fail(at, `${field}.${k}`, problem);
      }
      out[k] = x as string;
    }
    return out;
  };

  const severity = stringField('severity', 'warning')!;
  const labels = { ...labelMap('labels'), alertname: name, severity };
  const base: RuleBase = { name, forMs: duration('for', 0), keepFiringForMs: duration('keep_firing_for', 0), labels, annotations: labelMap('annotations') };
  switch (kind) {
    case 'user_activity':
      return { ...base, kind, threshold: required('threshold', 1, true) };
    case 'sensor_anomaly': {
      const rule = {
        ...base,
        kind,
        metric: stringField('metric', null),
        anomalyScoreAbove: number('anomalyScoreAbove', 0, false),
        valueAbove: number('valueAbove', -Infinity, false),
        valueBelow: number('valueBelow', -Infinity, false),
      };
      if (rule.anomalyScoreAbove === null && rule.valueAbove === null && rule.valueBelow === null) fail(at, 'anomalyScoreAbove', 'one of anomalyScoreAbove, valueAbove, valueBelow is required');
      return rule;
    }
    case 'sensor_silent':
      return { ...base, kind, metric: stringField('metric', null), silentForMs: r.silentFor === undefined ? fail(at, 'silentFor', 'is required') : duration('silentFor', null) };
    case 'revenue_drop': {
      const share = required('share', 0, false);
      if (share <= 0 || share >= 1) fail(at, 'share', `must be between 0 and 1 (exclusive), got ${share}`);
      const baselineMs = duration('baseline', 30 * 60_000);
      if (baselineMs < 60_000 || baselineMs % 60_000 !== 0) fail(at, 'baseline', `must be whole minutes, at least 1m, got ${baselineMs} ms`);
      return { ...base, kind, currency: stringField('currency', null), share, baselineMs, minBaseline: number('minBaseline', 0, false) ?? 0 };
    }
    case 'dead_letter_rate': {
      const windowMs = duration('window', 60_000);
      if (windowMs < 1000) fail(at, 'window', `must be at least 1s, got ${windowMs} ms`);
      return { ...base, kind, threshold: required('threshold', 1, true), windowMs };
    }
    case 'consumer_lag':
      return { ...base, kind, group: stringField('group', 'pulse-aggregator')!, threshold: required('threshold', 1, true) };
    case 'latency_p95': {
      const windowMs = duration('window', 60_000);
      if (windowMs < 1000) fail(at, 'window', `must be at least 1s, got ${windowMs} ms`);
      return { ...base, kind, thresholdMs: duration('threshold', null), windowMs };
    }
  }
}

export interface BuiltInOptions {
  /** alerts.userActivityThreshold */
  userActivityThreshold: number;
  /** aggregator.groupId: the group whose lag ConsumerLagHigh watches. */
  aggregatorGroup: string;
}

/** The rules Pulse ships (docs/alerting.md, "Built-in rules"); a rule of the same name in the rules file replaces one. */
export function builtInRules(options: BuiltInOptions): Rule[] {
  return [
    parseRule(
      {
        alert: 'UserActivitySpike',
        kind: 'user_activity',
        threshold: options.userActivityThreshold,
        severity: 'warning',
        annotations: {
          summary: 'User {{ $labels.userId }} is unusually active',
          description: 'User {{ $labels.userId }} sent {{ $value }} events in the current 5-minute window (threshold ' + options.userActivityThreshold + ').',
        },
      },
      'UserActivitySpike',
      'built-in',
    ),
    parseRule(
      {
        alert: 'SensorAnomaly',
        kind: 'sensor_anomaly',
        anomalyScoreAbove: 6,
        for: '1m',
        severity: 'warning',
        annotations: { summary: 'Sensor {{ $labels.sensorId }} reads far from its usual {{ $labels.metric }}', description: 'Anomaly score {{ $value }}.' },
      },
      'SensorAnomaly',
      'built-in',
    ),
    parseRule(
      {
        alert: 'RevenueDrop',
        kind: 'revenue_drop',
        share: 0.3,
        baseline: '30m',
        minBaseline: 1,
        for: '2m',
        severity: 'critical',
        annotations: { summary: 'Revenue in {{ $labels.currency }} fell below 30% of its last half hour', description: '{{ $value }} {{ $labels.currency }} in the minute.' },
      },
      'RevenueDrop',
      'built-in',
    ),
    parseRule(
      {
        alert: 'DeadLetterRate',
        kind: 'dead_letter_rate',
        threshold: 100,
        window: '1m',
        severity: 'warning',
        annotations: { summary: 'Events are being rejected', description: '{{ $value }} events went to dead-letters in the last minute.' },
      },
      'DeadLetterRate',
      'built-in',
    ),
    parseRule(
      {
        alert: 'PipelineLatencyHigh',
        kind: 'latency_p95',
        threshold: '1s',
        window: '1m',
        for: '2m',
        severity: 'warning',
        annotations: { summary: 'Activity counts are late', description: 'p95 from event to user-activity-counts is {{ $value }} ms over the last minute.' },
      },
      'PipelineLatencyHigh',
      'built-in',
    ),
    parseRule(
      {
        alert: 'ConsumerLagHigh',
        kind: 'consumer_lag',
        group: options.aggregatorGroup,
        threshold: 100_000,
        for: '1m',
        severity: 'critical',
        annotations: { summary: 'Consumer group {{ $labels.group }} is falling behind', description: '{{ $value }} records not yet processed.' },
      },
      'ConsumerLagHigh',
      'built-in',
    ),
  ];
}

/** Reads a rules file (`{"rules":[…]}`, JSON) and validates every rule; duplicate names are errors. */
export function loadRulesFile(file: string): Rule[] {
  const path = resolve(file);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new RuleError('(file)', '(file)', `cannot read the rules file: ${(err as Error).message}`, path);
  }
  return parseRules(parsed, path);
}

export function parseRules(parsed: unknown, source: string): Rule[] {
  const list = (parsed as { rules?: unknown } | null)?.rules;
  if (!Array.isArray(list)) throw new RuleError('(file)', 'rules', 'expected {"rules": [ … ]}', source);
  const rules = list.map((raw, i) => parseRule(raw, `rules[${i}]`, source));
  const seen = new Set<string>();
  for (const r of rules) {
    if (seen.has(r.name)) throw new RuleError(`"${r.name}"`, 'alert', 'defined twice', source);
    seen.add(r.name);
  }
  return rules;
}

/** The built-in rules with the file's rules added, a file rule replacing the built-in of its name. */
export function effectiveRules(builtIn: readonly Rule[], fromFile: readonly Rule[]): Rule[] {
  const names = new Set(fromFile.map((r) => r.name));
  return [...builtIn.filter((r) => !names.has(r.name)), ...fromFile];
}
