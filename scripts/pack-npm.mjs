#!/usr/bin/env node
// `pnpm pack:npm`: writes the installable npm tarballs of Pulse to dist/npm/ (docs/install.md):
//   - one platform package per prebuilt addon, @pulse/native-<platform> (os, cpu and libc set, so npm
//     installs only the one that fits), made with napi-rs's own `napi create-npm-dirs`;
//   - @pulse/cli, the package a user installs: the `pulse` command, with every other workspace package
//     bundled inside it (bundleDependencies) and the platform packages as optionalDependencies, which
//     is where the napi-rs loader (crates/pulse-napi/index.js) looks for the addon.
// Usage: node scripts/pack-npm.mjs [--no-build] [--out DIR] [--platforms DIR]
//   --no-build       pack the current builds instead of running `pnpm build` (release addon + TypeScript)
//   --out DIR        where the tarballs go (default dist/npm; emptied first)
//   --platforms DIR  platform package folders already filled by `napi artifacts` (the release workflow);
//                    without it, the addons built on this machine (crates/pulse-napi/pulse.*.node) are used
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: { 'no-build': { type: 'boolean', default: false }, out: { type: 'string' }, platforms: { type: 'string' } },
});
const out = resolve(values.out ?? join(root, 'dist/npm'));
const napiDir = join(root, 'crates/pulse-napi');
const USER_PACKAGE = '@pulse/cli';

const run = (cmd, args, cwd = root) => execFileSync(cmd, args, { cwd, stdio: ['ignore', 'inherit', 'inherit'] });
const readJson = (path) => JSON.parse(readFileSync(path, 'utf8'));
const writeJson = (path, value) => writeFileSync(path, JSON.stringify(value, null, 2) + '\n');

if (!values['no-build']) run('pnpm', ['run', 'build']);

// The workspace's packages by name, from pnpm-workspace.yaml's globs (`dir/*` or a plain folder).
const workspace = new Map();
for (const line of readFileSync(join(root, 'pnpm-workspace.yaml'), 'utf8').split('\n')) {
  const glob = /^\s*-\s*['"]?([^'"\s]+)['"]?\s*$/.exec(line)?.[1];
  if (glob === undefined) continue;
  const dirs = glob.endsWith('/*') ? readdirSync(join(root, glob.slice(0, -2)), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => join(root, glob.slice(0, -2), d.name)) : [join(root, glob)];
  for (const dir of dirs) if (existsSync(join(dir, 'package.json'))) workspace.set(readJson(join(dir, 'package.json')).name, dir);
}

// Every workspace package the CLI needs, transitively.
const bundled = [];
const visit = (name) => {
  if (bundled.includes(name)) return;
  if (!workspace.has(name)) throw new Error(`${name} is not a workspace package`);
  bundled.push(name);
  for (const [dep, spec] of Object.entries(readJson(join(workspace.get(name), 'package.json')).dependencies ?? {})) if (spec.startsWith('workspace:')) visit(dep);
};
visit(USER_PACKAGE);

const cliManifest = readJson(join(workspace.get(USER_PACKAGE), 'package.json'));
const version = cliManifest.version;
const rootManifest = readJson(join(root, 'package.json'));

// Third-party dependencies of all of them, hoisted into the user package with their exact versions.
const thirdParty = {};
for (const name of bundled) {
  for (const [dep, spec] of Object.entries(readJson(join(workspace.get(name), 'package.json')).dependencies ?? {})) {
    if (spec.startsWith('workspace:')) continue;
    if (!/^\d+\.\d+\.\d+(-[\w.-]+)?$/.test(spec)) throw new Error(`${name} depends on ${dep}@${spec}: pin an exact version`);
    if (thirdParty[dep] !== undefined && thirdParty[dep] !== spec) throw new Error(`two versions of ${dep} (${thirdParty[dep]}, ${spec}) in the workspace: align them`);
    thirdParty[dep] = spec;
  }
}

const stage = mkdtempSync(join(tmpdir(), 'pulse-pack-'));
try {
  // Platform packages: napi-rs writes their manifests from crates/pulse-napi's `napi.targets`.
  let platformsDir = values.platforms === undefined ? undefined : resolve(values.platforms);
  if (platformsDir === undefined) {
    // napi-rs writes only inside the addon's package (its conventional npm/ folder, not committed).
    platformsDir = join(napiDir, 'npm');
    rmSync(platformsDir, { recursive: true, force: true });
    run(join(napiDir, 'node_modules/.bin/napi'), ['create-npm-dirs', '--npm-dir', platformsDir], napiDir);
    for (const file of readdirSync(napiDir).filter((f) => /^pulse\..+\.node$/.test(f))) {
      const platform = file.slice('pulse.'.length, -'.node'.length);
      if (!existsSync(join(platformsDir, platform))) throw new Error(`${file} is built for ${platform}, which is not among crates/pulse-napi's napi.targets`);
      cpSync(join(napiDir, file), join(platformsDir, platform, file));
      // The release build keeps line tables for profiling; users get the symbols without them (a quarter of the size).
      if (process.platform === 'linux') run('strip', ['--strip-debug', join(platformsDir, platform, file)]);
    }
  }
  const platforms = readdirSync(platformsDir).filter((p) => {
    const manifest = readJson(join(platformsDir, p, 'package.json'));
    return manifest.files.every((f) => existsSync(join(platformsDir, p, f)));
  });
  if (platforms.length === 0) throw new Error('no prebuilt addon to pack: run `pnpm build:native` (or pass --platforms)');

  // The user package: the CLI's own files at the top, the other workspace packages under node_modules/.
  const pkg = join(stage, 'cli');
  const copyPackage = (name, into) => {
    const dir = workspace.get(name);
    const manifest = readJson(join(dir, 'package.json'));
    for (const entry of manifest.files ?? ['dist']) {
      // A glob names build outputs (the addon's `*.node`), which ship in the platform packages instead.
      if (entry.includes('*')) continue;
      if (!existsSync(join(dir, entry))) throw new Error(`${name} has no ${entry}: build it first (pnpm build)`);
      // Only what runs: no declaration files or source maps of the TypeScript build.
      cpSync(join(dir, entry), join(into, entry), { recursive: true, filter: (src) => !/\.(d\.ts|map|tsbuildinfo)$/.test(src) });
    }
    const deps = Object.fromEntries(Object.entries(manifest.dependencies ?? {}).map(([d, s]) => [d, s.startsWith('workspace:') ? version : s]));
    const { name: n, description, type, main, exports, bin } = manifest;
    return { name: n, version, description, ...(type ? { type } : {}), ...(main ? { main } : {}), ...(exports ? { exports } : {}), ...(bin ? { bin } : {}), ...(Object.keys(deps).length > 0 ? { dependencies: deps } : {}) };
  };
  const top = copyPackage(USER_PACKAGE, pkg);
  const inside = bundled.filter((n) => n !== USER_PACKAGE).sort();
  for (const name of inside) {
    const into = join(pkg, 'node_modules', name);
    mkdirSync(into, { recursive: true });
    writeJson(join(into, 'package.json'), copyPackage(name, into));
  }

  writeJson(join(pkg, 'package.json'), {
    ...top,
    description: rootManifest.description,
    keywords: ['kafka', 'analytics', 'stream-processing', 'e-commerce', 'napi-rs'],
    engines: rootManifest.engines,
    files: ['dist'],
    dependencies: { ...thirdParty, ...Object.fromEntries(inside.map((n) => [n, version])) },
    bundleDependencies: inside,
    optionalDependencies: Object.fromEntries(platforms.map((p) => [readJson(join(platformsDir, p, 'package.json')).name, version])),
  });

  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  for (const p of platforms) run('npm', ['pack', '--silent', '--pack-destination', out, join(platformsDir, p)]);
  run('npm', ['pack', '--silent', '--pack-destination', out, pkg]);
  console.log(`wrote ${readdirSync(out).join(', ')} to ${out}`);
} finally {
  rmSync(stage, { recursive: true, force: true });
}
