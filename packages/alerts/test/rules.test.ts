import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expandTemplate, fingerprint } from '../src/model.js';
import { builtInRules, effectiveRules, loadRulesFile, parseDuration, parseRule, parseRules } from '../src/rules.js';

describe('fingerprint', () => {
  it('is Prometheus’s FNV-1a 64 of the sorted labels', () => {
    // Reference values from github.com/prometheus/common model.LabelSet.Fingerprint().
    expect(fingerprint({})).toBe('cbf29ce484222325');
    expect(fingerprint({ alertname: 'A' })).toBe(fingerprint({ alertname: 'A' }));
    expect(fingerprint({ a: '1', b: '2' })).toBe(fingerprint({ b: '2', a: '1' }));
    expect(fingerprint({ a: '1', b: '2' })).not.toBe(fingerprint({ a: '12' }));
    expect(fingerprint({ a: '1' })).toMatch(/^[0-9a-f]{16}$/);
  });
});

describe('templates', () => {
  it('expands labels and the value', () => {
    expect(expandTemplate('{{ $labels.userId }} sent {{$value}} ({{ $labels.nope }})', { userId: 'u-1' }, 512)).toBe('u-1 sent 512 ()');
    expect(expandTemplate('{{ $value }}', {}, 1.23456)).toBe('1.235');
  });
});

describe('rules', () => {
  it('parses durations', () => {
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration(1500)).toBe(1500);
    expect(parseDuration('5 minutes')).toBeNull();
  });

  it('ships UserActivitySpike with the configured threshold', () => {
    const [spike] = builtInRules({ userActivityThreshold: 42, aggregatorGroup: 'g' });
    expect(spike).toMatchObject({ name: 'UserActivitySpike', kind: 'user_activity', threshold: 42, forMs: 0, labels: { alertname: 'UserActivitySpike', severity: 'warning' } });
  });

  it('names the rule and the field of every error', () => {
    const bad = (raw: object) => () => parseRule(raw, 'rules[3]', 'rules.json');
    expect(bad({ kind: 'user_activity' })).toThrow('alert rule rules[3] (rules.json), field alert');
    expect(bad({ alert: 'X', kind: 'cpu' })).toThrow('alert rule "X" (rules.json), field kind: must be one of user_activity');
    expect(bad({ alert: 'X', kind: 'user_activity' })).toThrow('"X" (rules.json), field threshold: is required');
    expect(bad({ alert: 'X', kind: 'user_activity', threshold: 0 })).toThrow('field threshold: must be at least 1');
    expect(bad({ alert: 'X', kind: 'user_activity', threshold: 5, for: '5 min' })).toThrow('field for: expected a duration');
    expect(bad({ alert: 'X', kind: 'user_activity', threshold: 5, metric: 'x' })).toThrow('field metric: unknown field for kind user_activity');
    expect(bad({ alert: 'X', kind: 'sensor_anomaly' })).toThrow('one of anomalyScoreAbove, valueAbove, valueBelow is required');
    expect(bad({ alert: 'X', kind: 'sensor_silent' })).toThrow('field silentFor: is required');
    expect(bad({ alert: 'X', kind: 'dead_letter_rate', threshold: 1, window: '10ms' })).toThrow('field window: must be at least 1s');
    expect(bad({ alert: 'X', kind: 'consumer_lag', threshold: 1, labels: { 'bad-name': 'x' } })).toThrow('field labels.bad-name');
    expect(bad({ alert: 'X', kind: 'consumer_lag', threshold: 1, annotations: { a: '{{ .Labels.x }}' } })).toThrow('field annotations.a: only {{ $labels.<name> }}');
    expect(() => parseRules({ rules: [{ alert: 'A', kind: 'consumer_lag', threshold: 1 }, { alert: 'A', kind: 'consumer_lag', threshold: 2 }] }, 'f')).toThrow('"A" (f), field alert: defined twice');
    expect(() => parseRules({ alerts: [] }, 'f')).toThrow('expected {"rules": [ … ]}');
  });

  it('reads a rules file, whose rules replace built-ins of the same name', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pulse-rules-'));
    const file = join(dir, 'rules.json');
    writeFileSync(file, JSON.stringify({ rules: [{ alert: 'UserActivitySpike', kind: 'user_activity', threshold: 7, for: '1m', severity: 'critical' }] }));
    const rules = effectiveRules(builtInRules({ userActivityThreshold: 500, aggregatorGroup: 'g' }), loadRulesFile(file));
    const spike = rules.filter((r) => r.name === 'UserActivitySpike');
    expect(spike).toHaveLength(1);
    expect(spike[0]).toMatchObject({ threshold: 7, forMs: 60_000, labels: { severity: 'critical' } });
    writeFileSync(file, '{ not json');
    expect(() => loadRulesFile(file)).toThrow(/cannot read the rules file/);
  });
});
