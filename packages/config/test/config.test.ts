import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, describeConfig, loadConfig, SecretSet } from '../src/index.js';
import { envName } from '../src/load.js';

const noFile = join(mkdtempSync(join(tmpdir(), 'pulse-config-')), 'absent.json');
const load = (env: Record<string, string>, file?: string) => loadConfig({ env, file: file ?? writeJson({}) });

function writeJson(value: unknown): string {
  const file = join(mkdtempSync(join(tmpdir(), 'pulse-config-')), 'pulse.config.json');
  writeFileSync(file, JSON.stringify(value));
  return file;
}

describe('loadConfig', () => {
  it('has the spec defaults', () => {
    const c = load({});
    expect(c.kafka.bootstrapServers).toBe('127.0.0.1:9092');
    expect(c.producer).toEqual({ batchSize: 16384, lingerMs: 10, compression: 'lz4', acks: 'all' });
    expect(c.aggregator.windowSizeMs).toBe(300_000);
    expect(c.aggregator.graceMs).toBe(60_000);
  });

  it('layers file, environment and overrides, in that order', () => {
    const file = writeJson({ producer: { lingerMs: 5, batchSize: 4096 }, aggregator: { graceMs: 0 } });
    const c = loadConfig({ env: { PULSE_PRODUCER_LINGER_MS: '7', KAFKA_BOOTSTRAP_SERVERS: 'k:1' }, file, overrides: { 'producer.batchSize': 1 } });
    expect(c.producer.lingerMs).toBe(7);
    expect(c.producer.batchSize).toBe(1);
    expect(c.aggregator.graceMs).toBe(0);
    expect(c.kafka.bootstrapServers).toBe('k:1');
  });

  it('names the bad key and where it came from', () => {
    expect(() => load({ PULSE_PRODUCER_LINGER_MS: 'soon' })).toThrow(/producer\.lingerMs \(from environment PULSE_PRODUCER_LINGER_MS\): expected an integer/);
    expect(() => load({ PULSE_PRODUCER_COMPRESSION: 'brotli' })).toThrow(/must be one of none, gzip, snappy, lz4, zstd/);
    expect(() => load({ PULSE_AGGREGATOR_WINDOW_SIZE_MS: '10' })).toThrow(/at least 1000/);
    expect(() => load({ PULSE_PRODUCER_LINGERMS: '5' })).toThrow(ConfigError);
    expect(() => load({}, writeJson({ producer: { lingerMS: 5 } }))).toThrow(/producer\.lingerMS .*unknown key/);
    expect(() => loadConfig({ env: {}, file: noFile })).toThrow(/cannot read configuration file/);
  });

  it('takes the PostgreSQL URL from PULSE_DATABASE_URL and defaults to the DuckDB file', () => {
    expect(load({}).database.url).toBe('');
    expect(load({}).sink.duckdbFile).toBe('pulse.duckdb');
    expect(load({ PULSE_DATABASE_URL: 'postgres://u@db:5432/pulse' }).database.url).toBe('postgres://u@db:5432/pulse');
    expect(() => load({ PULSE_SINK_BATCH_SIZE: '0' })).toThrow(/sink\.batchSize .*at least 1/);
  });

  it('reads fractional numbers within their range', () => {
    expect(load({}).aggregator.ewmaAlpha).toBe(0.1);
    expect(load({ PULSE_AGGREGATOR_EWMA_ALPHA: '0.25' }).aggregator.ewmaAlpha).toBe(0.25);
    expect(load({}, writeJson({ aggregator: { ewmaAlpha: 1 } })).aggregator.ewmaAlpha).toBe(1);
    expect(() => load({ PULSE_AGGREGATOR_EWMA_ALPHA: '0' })).toThrow(/aggregator\.ewmaAlpha .*must be above 0/);
    expect(() => load({ PULSE_AGGREGATOR_EWMA_ALPHA: '1.5' })).toThrow(/must be at most 1/);
    expect(() => load({ PULSE_AGGREGATOR_EWMA_ALPHA: 'high' })).toThrow(/expected a number/);
    expect(() => load({ PULSE_AGGREGATOR_HLL_PRECISION: '17' })).toThrow(/at most 16/);
  });

  it('derives environment names from keys and documents every key', () => {
    expect(envName('aggregator.emitIntervalMs')).toBe('PULSE_AGGREGATOR_EMIT_INTERVAL_MS');
    expect(describeConfig()).toContain('PULSE_KAFKA_BOOTSTRAP_SERVERS');
  });
});

describe('SecretSet', () => {
  it('matches configured secrets exactly, whatever their length', () => {
    const set = new SecretSet(['s3cret', 'another-much-longer-token', 's3cret']);
    expect(set.size).toBe(2);
    expect(set.has('s3cret')).toBe(true);
    expect(set.has('another-much-longer-token')).toBe(true);
    for (const wrong of ['', 's3cre', 's3cret ', 'S3CRET', 's3cret\0', 'x'.repeat(10_000)]) expect(set.has(wrong), JSON.stringify(wrong)).toBe(false);
    expect(new SecretSet([]).has('')).toBe(false);
  });
});
