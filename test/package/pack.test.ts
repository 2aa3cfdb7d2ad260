// The published package, as a user gets it: `npm pack` the repository, install the tarball in an
// empty project (its dependencies from the registry, through the npm cache), then use it from plain
// Node (the public API, a real patched run), from TypeScript (the declarations) and through the
// installed `patchwise` command (help, and a viewer build, which bundles the shipped viz/ sources).
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const exec = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
// npm as a user runs it: without the npm_* variables of an enclosing `npm test`.
const userEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')));

interface PackResult {
  readonly filename: string;
  readonly files: readonly { readonly path: string }[];
}

let work: string;
let app: string;
let packed: PackResult;

const version = (dir: string, name: string): string => (JSON.parse(readFileSync(join(dir, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'patchwise-pack-'));
  app = join(work, 'app');
  // dist/ is fresh (the vitest global setup builds it); --ignore-scripts skips prepack's clean
  // rebuild, which would pull dist/ from under the CLI tests running beside this one.
  const pack = await exec(npm, ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: repoRoot, env: userEnv });
  const [result] = JSON.parse(pack.stdout) as PackResult[];
  if (result === undefined) throw new Error(`npm pack printed no result: ${pack.stdout}`);
  packed = result;

  cpSync(join(repoRoot, 'test', 'package', 'fixtures', 'app'), app, { recursive: true });
  // Install scripts skipped: onnxruntime-node's would download CUDA binaries, and sqlite3's compiles
  // SQLite for a minute. The addon sqlite3 builds is the same file for the same version, so it is
  // taken from the repository's own install (which `npm ci` built); another version is rebuilt.
  await exec(npm, ['install', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', join(work, packed.filename)], { cwd: app, env: userEnv });
  if (version(app, 'sqlite3') === version(repoRoot, 'sqlite3')) {
    cpSync(join(repoRoot, 'node_modules', 'sqlite3', 'build'), join(app, 'node_modules', 'sqlite3', 'build'), { recursive: true });
  } else {
    await exec(npm, ['rebuild', 'sqlite3'], { cwd: app, env: userEnv });
  }
}, 600_000);

afterAll(() => {
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

describe('npm package', () => {
  it('ships the build, its declarations, the data, the viewer sources and the README, and no tests', () => {
    const paths = new Set(packed.files.map((f) => f.path));
    for (const p of [
      'package.json',
      'README.md',
      'bin/patchwise.js',
      'dist/index.js',
      'dist/index.d.ts',
      'dist/cli/main.js',
      'data/names.txt',
      'viz/index.html',
      'viz/style.css',
      'viz/src/main.ts',
      'src/graph/component-graph.ts',
    ]) {
      expect(paths, p).toContain(p);
    }
    const unwanted = [...paths].filter((p) => p.startsWith('test/') || p.startsWith('scripts/') || p.startsWith('viz/screenshots/') || p.endsWith('.tsbuildinfo') || p.endsWith('.db'));
    expect(unwanted).toEqual([]);
  });

  it('imports from plain Node: the public API, and a patched run that keeps the mask-0 and mask-1 invariants', async () => {
    const { stdout } = await exec(process.execPath, ['use-api.mjs'], { cwd: app });
    const report = JSON.parse(stdout) as Record<string, unknown>;
    expect(report.kinds).toEqual({
      loadModel: 'function',
      plantInductionModel: 'function',
      initModel: 'function',
      PatchableModel: 'function',
      EdgeMasks: 'function',
      ComponentGraph: 'function',
      buildDataset: 'function',
      Experiment: 'function',
      acdc: 'function',
      Circuit: 'function',
      Store: 'function',
      loadPipeline: 'function',
      runPipeline: 'function',
      UserError: 'function',
    });
    expect(report.dataDir).toBe(join(app, 'node_modules', 'patchwise', 'data'));
    expect(report.maskZeroIsBase).toBeLessThan(1e-4);
    expect(report.maskOneIsSource).toBeLessThan(1e-4);
    expect(report.storedRuns).toEqual([]);
  });

  it('type-checks a TypeScript user of the declarations', async () => {
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    const r = await exec(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: app }).catch((e: { stdout: string; code: number }) => e);
    expect(r.stdout).toBe('');
  });

  it('runs the installed patchwise command, and its viewer build bundles the shipped sources', async () => {
    const bin = join(app, 'node_modules', '.bin', 'patchwise');
    expect(existsSync(bin)).toBe(true);
    const help = await exec(bin, ['--help'], { cwd: app });
    expect(help.stdout).toMatch(/patchwise run <pipeline/);
    const site = join(work, 'site');
    const build = await exec(bin, ['viz', 'build', '--db', join(app, 'use-api.db'), '--out', site], { cwd: app });
    expect(build.stdout).toMatch(/^wrote .*: 0 runs, 0 circuits/);
    expect(readFileSync(join(site, 'app.js'), 'utf8').length).toBeGreaterThan(10_000);
    expect(existsSync(join(site, 'index.html'))).toBe(true);
  });
});
