import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cliNodeFlags } from '../lib/pulse-cli.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

describe('the Node flags pulse runs with', () => {
  it('are read from the CLI shebang, and `pnpm pulse` passes the same ones', () => {
    const flags = cliNodeFlags(join(root, 'packages/cli/src/main.ts'));
    expect(flags).toContain('--initial-old-space-size=64');
    const scripts = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    expect(scripts.pulse).toBe(['node', ...flags, 'packages/cli/dist/main.js'].join(' '));
  });

  it('are none for a plain `#!/usr/bin/env node`, and a file without a node shebang is an error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pulse-cli-'));
    writeFileSync(join(dir, 'plain.js'), '#!/usr/bin/env node\nconsole.log(1);\n');
    writeFileSync(join(dir, 'none.js'), 'console.log(1);\n');
    expect(cliNodeFlags(join(dir, 'plain.js'))).toEqual([]);
    expect(() => cliNodeFlags(join(dir, 'none.js'))).toThrow(/does not start with a shebang that runs node/);
  });
});
