#!/usr/bin/env node
// Runs vitest with its usual output plus a JSON report, then prints one plain summary line
// ("vitest: N passed, N failed, N skipped") that tools reading the end of a CI log understand.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'pulse-vitest-'));
const report = join(dir, 'report.json');
const args = ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...process.argv.slice(2)];
const run = spawnSync('npx', args, { stdio: 'inherit' });
let code = run.status ?? 1;
try {
  const r = JSON.parse(readFileSync(report, 'utf8'));
  const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  // A suite that fails before its tests run (a broken import, a failing hook) counts as a failure too.
  const failed = Math.max(r.numFailedTests, r.numFailedTestSuites ?? 0);
  console.log(`vitest: ${r.numPassedTests} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
  if (r.numTotalTests === 0) code = code || 1;
} catch {
  console.log('vitest: 0 passed, 1 failed (no report: the run did not complete)');
  code = code || 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exit(code);
