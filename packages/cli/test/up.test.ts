import { describe, expect, it } from 'vitest';
import { DEMO_WRITE_KEY, printableWriteKey } from '../src/commands/up.js';

describe('pulse up', () => {
  it('prints the demo write key, and never a configured one', () => {
    expect(printableWriteKey([])).toBe(DEMO_WRITE_KEY);
    const shown = printableWriteKey(['s3cret-key', 'other']);
    expect(shown).not.toContain('s3cret');
    expect(shown).toMatch(/PULSE_WRITE_KEYS/);
  });
});
