import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, memoryLog } from '../src/index.js';

/** A destination that keeps what pino writes, one JSON object per line. */
function capture(): { stream: Writable; lines: () => Record<string, unknown>[] } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  return { stream, lines: () => text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('service logs', () => {
  it('writes one JSON object per line with time, level, component, message and fields', () => {
    const out = capture();
    const log = createLogger('aggregator', { level: 'info', format: 'json' }, out.stream);
    log.info({ lag: 12 }, 'restored 42 partitions');
    log.debug('not written at level info');
    log.warn('2 records were deleted by retention');
    const [first, second, ...rest] = out.lines();
    expect(rest).toEqual([]);
    expect(first).toMatchObject({ level: 'info', component: 'aggregator', msg: 'restored 42 partitions', lag: 12 });
    expect(new Date(first!.time as string).getTime()).toBeGreaterThan(Date.now() - 60_000);
    expect(second).toMatchObject({ level: 'warn', msg: '2 records were deleted by retention' });
  });

  it('never writes a secret that reaches a log line inside a configuration or headers', () => {
    const out = capture();
    const log = createLogger('serve', { level: 'info', format: 'json' }, out.stream);
    log.info({ config: { kafka: { saslPassword: 'kafka-s3cret', bootstrapServers: 'b:9092' }, api: { tokens: ['api-s3cret'] }, collector: { writeKeys: ['wk-s3cret'] } } }, 'configuration');
    log.info({ req: { headers: { authorization: 'Bearer api-s3cret', host: 'h' } } }, 'request');
    const text = JSON.stringify(out.lines());
    expect(text).not.toMatch(/s3cret/);
    expect(text).toContain('b:9092');
    expect(out.lines()[0]).toMatchObject({ config: { kafka: { saslPassword: '[redacted]' }, api: { tokens: '[redacted]' } } });
  });

  it('keeps lines with their level in memory for tests', () => {
    const log = memoryLog();
    log.warn('w');
    log.info('i');
    expect(log.lines).toEqual(['warn: w', 'info: i']);
  });
});
