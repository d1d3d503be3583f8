import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
// The generator of docs/configuration.md (`pnpm docs:config`), rendering the schema as this test sees it.
import { BEGIN, END, renderConfigTable, replaceTable } from '../../../scripts/config-table.mjs';
import { envName } from '../src/load.js';
import { schema } from '../src/schema.js';

const docPath = new URL('../../../docs/configuration.md', import.meta.url);

describe('docs/configuration.md', () => {
  it('holds exactly the table the configuration schema renders', () => {
    const doc = readFileSync(docPath, 'utf8');
    expect(doc, 'docs/configuration.md differs from packages/config/src/schema.ts: regenerate it with `pnpm docs:config`').toBe(
      replaceTable(doc, renderConfigTable(schema, envName)),
    );
  });

  it('names every key with its environment variables, default and meaning', () => {
    const table = renderConfigTable(schema, envName);
    for (const [key, spec] of Object.entries(schema)) {
      const row = table.split('\n').find((line) => line.startsWith(`| \`${key}\` |`));
      expect(row, key).toBeDefined();
      expect(row).toContain(`\`${envName(key)}\``);
      for (const alias of 'aliases' in spec ? spec.aliases : []) expect(row).toContain(`\`${alias}\``);
      expect(row).toContain(spec.doc.replace(/\|/g, '\\|'));
    }
    expect(table).toContain('| `aggregator.graceMs` | `PULSE_AGGREGATOR_GRACE_MS` | `60000` | integer ≥ 0 |');
    expect(table).toContain('| `kafka.bootstrapServers` | `PULSE_KAFKA_BOOTSTRAP_SERVERS` or `KAFKA_BOOTSTRAP_SERVERS` | `127.0.0.1:9092` | text |');
    expect(table).toContain('| `alerts.groupBy` | `PULSE_ALERTS_GROUP_BY` | `alertname` | comma-separated list |');
  });

  it('notices a key added to the schema, and a page without its markers', () => {
    const doc = readFileSync(docPath, 'utf8');
    const grown = { ...schema, 'aggregator.example': { type: { kind: 'int', min: 1 }, default: 7, doc: 'an added key' } };
    expect(replaceTable(doc, renderConfigTable(grown, envName))).not.toBe(doc);
    expect(() => replaceTable(doc.replace(END, ''), '')).toThrow(/must contain the lines/);
    expect(() => replaceTable(doc.replace(BEGIN, ''), '')).toThrow(/must contain the lines/);
  });
});
