#!/usr/bin/env node
// `pnpm docs:config`: writes every key of the configuration schema (packages/config/src/schema.ts) — its
// environment variables, default, accepted values and meaning — into docs/configuration.md, between the
// marker comments, so that the page never drifts from the code. packages/config/test/docs.test.ts fails
// when the page differs from what the schema renders.
// Usage: node scripts/config-table.mjs   (reads packages/config/dist: `pnpm docs:config` builds it first)
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const BEGIN = '<!-- config-table:begin — generated from packages/config/src/schema.ts by `pnpm docs:config`; edit the schema, not this table -->';
export const END = '<!-- config-table:end -->';

const cell = (text) => String(text).replace(/\|/g, '\\|');
const code = (text) => '`' + text + '`';

function renderDefault(value) {
  if (Array.isArray(value)) return value.length === 0 ? '(empty)' : code(value.join(','));
  if (value === '') return '(empty)';
  return code(value);
}

function renderValues(type) {
  switch (type.kind) {
    case 'int':
      return type.max === undefined ? `integer ≥ ${type.min}` : `integer ${type.min} … ${type.max}`;
    case 'number':
      return `number > ${type.above}, ≤ ${type.max}`;
    case 'list':
      return 'comma-separated list';
    case 'string':
      if (type.oneOf) return type.oneOf.map((v) => (v === '' ? '(empty)' : code(v))).join(', ');
      return type.allowEmpty ? 'text, may be empty' : 'text';
    default:
      throw new Error(`unknown field type ${JSON.stringify(type)}`);
  }
}

/**
 * The Markdown between the markers: one table per group of keys (the part of a key before its first
 * dot), groups in the order the schema first names them.
 */
export function renderConfigTable(schema, envName) {
  const groups = new Map();
  for (const [key, spec] of Object.entries(schema)) {
    const group = key.includes('.') ? key.slice(0, key.indexOf('.')) : 'general';
    if (!groups.has(group)) groups.set(group, []);
    groups.get(group).push([key, spec]);
  }
  const out = [];
  for (const [group, entries] of groups) {
    out.push(`### ${group}`, '', '| key | environment | default | values | meaning |', '|---|---|---|---|---|');
    for (const [key, spec] of entries) {
      const env = [envName(key), ...(spec.aliases ?? [])].map(code).join(' or ');
      out.push(`| ${code(key)} | ${env} | ${cell(renderDefault(spec.default))} | ${cell(renderValues(spec.type))} | ${cell(spec.doc)} |`);
    }
    out.push('');
  }
  return out.join('\n');
}

/** `doc` with the text between its markers replaced by `table`; an error if the markers are missing. */
export function replaceTable(doc, table) {
  const begin = doc.indexOf(BEGIN);
  const end = doc.indexOf(END);
  if (begin < 0 || end < begin) throw new Error(`docs/configuration.md must contain the lines\n${BEGIN}\n${END}`);
  return `${doc.slice(0, begin + BEGIN.length)}\n\n${table}\n${doc.slice(end)}`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const { schema } = await import(pathToFileURL(resolve(root, 'packages/config/dist/schema.js')).href);
  const { envName } = await import(pathToFileURL(resolve(root, 'packages/config/dist/load.js')).href);
  const file = resolve(root, 'docs/configuration.md');
  const before = readFileSync(file, 'utf8');
  const after = replaceTable(before, renderConfigTable(schema, envName));
  if (after === before) {
    console.log('docs/configuration.md is up to date');
  } else {
    writeFileSync(file, after);
    console.log(`docs/configuration.md: wrote ${Object.keys(schema).length} keys`);
  }
}
