// The viewer's export: what the store holds comes out of the data files unchanged (runs, effects,
// detections, circuits bit for bit, curves), the viewer's re-cutting agrees with Circuit, the files
// stay compact and escape markup, and the build and serve commands behave. No browser needed.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runInNewContext } from 'node:vm';
import yargs from 'yargs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { forEachEdge, type Circuit } from '../../src/circuits/circuit.js';
import { vizCommand } from '../../src/cli/commands/viz.js';
import { UserError } from '../../src/core/errors.js';
import { Store } from '../../src/store/store.js';
import { resolveInside, serveSite } from '../../src/viz-export/serve.js';
import { SITE_MARKER, buildSite, type BuildResult } from '../../src/viz-export/site.js';
import {
  INDEX_CHUNK,
  VIZ_GLOBAL,
  base64ToBytes,
  bytesToBase64,
  chunkFile,
  circuitChunk,
  packBits,
  packFloat32,
  runChunk,
  unpackBits,
  unpackFloat32,
  type VizCircuitChunk,
  type VizIndex,
  type VizRunEffects,
} from '../../src/viz-export/format.js';
import { decodeCircuit } from '../../viz/src/data.js';
import { countAtLeast, edgeIndex, maskNodes, thresholdMask } from '../../viz/src/edges.js';
import { cellKey, familiesOf, familyGrid, familyPositions, windowCurve } from '../../viz/src/effects.js';
import { formatState, parseState } from '../../viz/src/state.js';
import { GPT2, HOSTILE_MODEL, HOSTILE_PROMPT, writeFixture, type Fixture } from '../viz/fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'patchwise-viz-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const db = join(dir, 'results.db');
const out = join(dir, 'site');
let fx: Fixture;
let built: BuildResult;

/** Runs a data file the way the browser does, returning what it registered. */
function readChunk(site: string, chunk: string): unknown {
  const got: Record<string, unknown> = {};
  const window = { [VIZ_GLOBAL]: { register: (name: string, payload: unknown) => (got[name] = payload) } };
  runInNewContext(readFileSync(join(site, chunkFile(chunk)), 'utf8'), { window });
  expect(Object.keys(got)).toEqual([chunk]);
  return got[chunk];
}

/** The circuit's scores and mask in edge order (the viewer's layout). */
function edgeOrder(c: Circuit): { scores: Float32Array; mask: Uint8Array } {
  const R = c.graph.nReceivers;
  const scores = new Float32Array(c.graph.nEdges);
  const mask = new Uint8Array(c.graph.nEdges);
  forEachEdge(c.graph, (s, r, k) => {
    scores[k] = c.scores[s * R + r]!;
    mask[k] = c.mask[s * R + r]!;
  });
  return { scores, mask };
}

const bits = (f: Float32Array): Uint32Array => new Uint32Array(f.buffer, f.byteOffset, f.length);

beforeAll(async () => {
  fx = await writeFixture(db, { big: true });
  built = await buildSite({ db, out, builtAt: '2026-01-01T00:00:00.000Z' });
}, 120_000);

describe('viz build: what goes in comes out', () => {
  it('writes the viewer and one data file per run and circuit', () => {
    const names = built.files.map((f) => f.path).sort();
    expect(names).toEqual(
      [
        '.patchwise-viz',
        'app.js',
        'eap-json.js',
        'index.html',
        'style.css',
        chunkFile(INDEX_CHUNK),
        ...fx.runs.map((r) => chunkFile(runChunk(r.id))),
        ...[fx.kl.id, fx.ld.id, fx.big!.id].map((id) => chunkFile(circuitChunk(id))),
      ].sort(),
    );
    const html = readFileSync(join(out, 'index.html'), 'utf8');
    // Self-contained: nothing fetched from another origin.
    expect(html).not.toMatch(/https?:\/\//);
    expect(readFileSync(join(out, 'app.js'), 'utf8')).not.toMatch(/\bsrc=["']https?:|import\(["']https?:/);
  });

  it('keeps every run with its mean effects and detections exactly', async () => {
    const index = readChunk(out, INDEX_CHUNK) as VizIndex;
    expect(index.source).toBe('results.db');
    expect(index.runs.map((r) => r.id)).toEqual(fx.runs.map((r) => r.id));
    const store = await Store.open(db, { create: false });
    try {
      for (const run of index.runs) {
        const want = fx.runs.find((r) => r.id === run.id)!;
        expect([run.corruption, run.metric, run.granularity, run.window, run.direction]).toEqual([want.corruption, want.metric, want.granularity, want.window, 'denoising']);
        expect(run.model).toBe(HOSTILE_MODEL);
        expect(run.baselines).toEqual({ clean: 3.2, corrupted: 0.4 });
        expect(run.prompts[0]).toEqual({ clean: HOSTILE_PROMPT, corrupted: 'When Anna and Carl went to the park 0' });
        expect(run.roles).toEqual({ IO: 2, S1: 1, S2: 4, END: 5 });
        const e = readChunk(out, runChunk(run.id)) as VizRunEffects;
        const means = await store.runs.meanEffects(run.id);
        expect(e.component.length).toBe(means.length);
        expect(run.nComponents).toBe(means.length);
        means.forEach((m, i) => {
          expect([e.component[i], e.kind[i], e.layer[i], e.head[i], e.position[i], e.window[i], e.n[i]]).toEqual([m.component, m.kind, m.layer, m.head, m.position, m.window, m.n]);
          expect(e.mean[i]).toBe(m.mean);
          expect(e.std[i]).toBe(m.std);
        });
        const det = await store.runs.detections(run.id);
        expect(e.detections).toEqual(det.map((d) => ({ component: d.component, layer: d.layer, head: d.head, position: d.position, window: d.window, mean: d.mean, zscore: d.zscore, sign: d.sign })));
        expect(run.nDetections).toBe(det.length);
      }
      expect(index.curves).toHaveLength((await store.curves.list()).length);
      for (const cv of await store.curves.list()) {
        const got = index.curves.find((c) => c.pipeline === cv.pipeline && c.key === cv.key && c.kind === cv.kind)!;
        expect(got.circuitId).toBe(cv.circuitId);
        expect(got.size).toEqual(cv.points.map((p) => p.size));
        expect(got.faithfulness).toEqual(cv.points.map((p) => p.faithfulness));
        expect(got.tpr).toEqual(cv.points.map((p) => p.tpr));
        expect(got.fpr).toEqual(cv.points.map((p) => p.fpr));
      }
    } finally {
      await store.close();
    }
  });

  it('keeps every circuit bit for bit: scores, mask, counts and metadata', () => {
    const index = readChunk(out, INDEX_CHUNK) as VizIndex;
    for (const { id, circuit } of [fx.kl, fx.ld, fx.big!]) {
      const info = index.circuits.find((c) => c.id === id)!;
      expect([info.nLayers, info.nHeads, info.nEdges, info.nScored, info.size]).toEqual([circuit.graph.nLayers, circuit.graph.nHeads, circuit.graph.nEdges, circuit.nScored, circuit.size]);
      expect([info.method, info.metric, info.corruption, info.direction, info.threshold, info.faithfulness]).toEqual([
        circuit.meta.method,
        circuit.meta.metric,
        circuit.meta.corruption,
        circuit.meta.direction,
        circuit.meta.threshold,
        circuit.meta.faithfulness,
      ]);
      const loaded = decodeCircuit(info, readChunk(out, circuitChunk(id)) as VizCircuitChunk);
      const want = edgeOrder(circuit);
      expect(bits(loaded.scores)).toEqual(bits(want.scores));
      expect(loaded.mask).toEqual(want.mask);
      expect(maskNodes(loaded.ix, loaded.mask)).toEqual(circuit.nodes());
    }
    const big = index.circuits.find((c) => c.id === fx.big!.id)!;
    expect(big.nEdges).toBe(32_491);
    expect(big.nScored).toBe(32_491);
  });

  it('stores dense scores compactly: float32 + a bitset per edge, base64', () => {
    const big = built.files.find((f) => f.path === chunkFile(circuitChunk(fx.big!.id)))!;
    // 4 bytes of score and 1 bit of mask per edge, times 4/3 for base64, plus a small envelope.
    const b64 = (n: number): number => 4 * Math.ceil(n / 3);
    const packed = b64(32_491 * 4) + b64(Math.ceil(32_491 / 8));
    expect(big.bytes).toBeGreaterThanOrEqual(packed);
    expect(big.bytes).toBeLessThan(packed + 200);
  });

  it('escapes markup in data files, so no data string can close a script element', () => {
    for (const name of readdirSync(join(out, 'data'))) {
      const text = readFileSync(join(out, 'data', name), 'utf8');
      expect(text).not.toContain('<');
      expect(text).not.toContain('>');
    }
    const index = readChunk(out, INDEX_CHUNK) as VizIndex;
    expect(index.circuits[0]!.modelName).toBe(HOSTILE_MODEL);
  });
});

describe('the viewer re-cuts like Circuit does', () => {
  it('threshold masks and node sets equal Circuit.withThreshold at many thresholds', () => {
    for (const { circuit } of [fx.kl, fx.ld, fx.big!]) {
      const ix = edgeIndex(circuit.graph.nLayers, circuit.graph.nHeads);
      const { scores } = edgeOrder(circuit);
      const mags = Array.from(scores, Math.abs)
        .filter((v) => !Number.isNaN(v))
        .sort((a, b) => b - a);
      const taus = [0, mags[0]!, mags[3]!, mags[Math.floor(mags.length / 10)]!, mags[Math.floor(mags.length / 2)]!, 0.5, 2, Infinity];
      for (const tau of taus) {
        const want = circuit.withThreshold(tau);
        const mask = thresholdMask(ix, scores, tau);
        expect(mask).toEqual(edgeOrder(want).mask);
        expect(maskNodes(ix, mask)).toEqual(want.nodes());
      }
      expect(countAtLeast(Float32Array.from(mags), 0)).toBe(mags.length);
    }
  });

  it('the 32,491-edge graph re-cuts fast enough to follow a slider', () => {
    const ix = edgeIndex(GPT2.nLayers, GPT2.nHeads);
    const { scores } = edgeOrder(fx.big!.circuit);
    const t0 = performance.now();
    for (let i = 0; i < 20; i++) thresholdMask(ix, scores, 0.05 * i);
    expect((performance.now() - t0) / 20).toBeLessThan(50);
  });
});

describe('effects as the patching view arranges them', () => {
  it('heads grids put each mean at (layer, head) and outline the detections', () => {
    const heads = fx.runs.find((r) => r.granularity === 'heads')!;
    const e = readChunk(out, runChunk(heads.id)) as VizRunEffects;
    const [fam] = familiesOf(e);
    expect(fam).toMatchObject({ key: 'head', byHead: true });
    const g = familyGrid(e, fam!, undefined);
    expect([g.rows, g.cols]).toEqual([3, 4]);
    const i = e.component.indexOf('a1.h2');
    expect(g.values.get(cellKey(1, 2))!.mean).toBe(e.mean[i]);
    expect([...g.detected].sort()).toEqual([cellKey(0, 3), cellKey(1, 2)]);
    expect(g.maxAbs).toBe(Math.max(...e.mean.map(Math.abs)));
  });

  it('window curves set each window against the sum of its single layers', () => {
    const run = fx.runs.find((r) => r.window === 2)!;
    const e = readChunk(out, runChunk(run.id)) as VizRunEffects;
    expect(
      familiesOf(e)
        .map((f) => f.key)
        .sort(),
    ).toEqual(['attn:1', 'attn:2']);
    expect(familyPositions(e, 'attn')).toEqual([0, 1, 2, 3, 4, 5]);
    const wc = windowCurve(e, e, 'attn', 2, 4);
    expect(wc.layers).toEqual([0, 1]);
    // Fixture: single layers 0.4, 0.6, 0.02 at position 4; each window is 1.2 x their sum.
    expect(wc.summed[0]).toBeCloseTo(1.0, 12);
    expect(wc.window[0]).toBeCloseTo(1.2, 12);
    expect(wc.summed[1]).toBeCloseTo(0.62, 12);
    expect(wc.window[1]).toBeCloseTo(1.2 * 0.62, 12);
  });
});

describe('data packing', () => {
  it('base64 agrees with Buffer for every length remainder', () => {
    for (let n = 0; n < 40; n++) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 97 + n * 31) & 255);
      const text = bytesToBase64(bytes);
      expect(text).toBe(Buffer.from(bytes).toString('base64'));
      expect(base64ToBytes(text)).toEqual(bytes);
    }
    expect(() => base64ToBytes('abc')).toThrow(/multiple of 4/);
    expect(() => base64ToBytes('ab$=')).toThrow(/invalid base64/);
  });

  it('float32 arrays (NaN, -0, infinities, subnormals) and bitsets round-trip', () => {
    const f = Float32Array.from([0, -0, NaN, Infinity, -Infinity, 1e-45, 3.4e38, -1.5, Math.PI]);
    expect(bits(unpackFloat32(packFloat32(f), f.length))).toEqual(bits(f));
    expect(() => unpackFloat32(packFloat32(f), f.length + 1)).toThrow(/bytes/);
    for (const n of [0, 1, 7, 8, 9, 17, 1000]) {
      const b = Uint8Array.from({ length: n }, (_, i) => ((i * 7) % 3 === 0 ? 1 : 0));
      expect(unpackBits(packBits(b), n)).toEqual(b);
    }
  });

  it('view state round-trips through the URL hash, thresholds as the same float32', () => {
    const tau = Math.fround(0.0123456);
    const s = parseState(formatState({ tab: 'compare', a: 3, b: 5, ta: tau, tb: 0, node: 'a1.h2<q>', pipeline: 'ioi & co', all: true }));
    expect(s).toEqual({ tab: 'compare', a: 3, b: 5, ta: tau, tb: 0, node: 'a1.h2<q>', pipeline: 'ioi & co', all: true });
    expect(parseState('#tab=nonsense&c=x&t=-1')).toEqual({ tab: 'circuit' });
  });
});

describe('viewer sources', () => {
  it('never parse strings as HTML', () => {
    const src = fileURLToPath(new URL('../../viz/src/', import.meta.url));
    for (const name of readdirSync(src)) {
      // Code only: comments may name what the code avoids.
      const text = readFileSync(join(src, name), 'utf8')
        .replace(/\/\*[\s\S]*?\*\//g, '')
        .replace(/\/\/.*$/gm, '');
      for (const bad of ['innerHTML', 'outerHTML', 'insertAdjacentHTML', 'document.write', 'eval(', 'new Function', 'createContextualFragment', 'DOMParser']) {
        expect(text.includes(bad), `${name} uses ${bad}`).toBe(false);
      }
    }
  });
});

describe('viz build and serve commands', () => {
  it('refuses to write into a folder that is not a viewer build', async () => {
    const other = join(dir, 'other');
    mkdirSync(other);
    writeFileSync(join(other, 'notes.txt'), 'mine');
    await expect(buildSite({ db, out: other })).rejects.toThrow(UserError);
    expect(readFileSync(join(other, 'notes.txt'), 'utf8')).toBe('mine');
    await expect(buildSite({ db: join(dir, 'missing.db'), out: join(dir, 'x') })).rejects.toThrow(/no database/);
  });

  it('rebuilding replaces stale data files', async () => {
    const site = join(dir, 'rebuild');
    await buildSite({ db, out: site });
    writeFileSync(join(site, 'data', 'circuit-999.js'), 'stale');
    await buildSite({ db, out: site, pipeline: 'e2e' });
    expect(existsSync(join(site, 'data', 'circuit-999.js'))).toBe(false);
    expect(existsSync(join(site, SITE_MARKER))).toBe(true);
    const index = readChunk(site, INDEX_CHUNK) as VizIndex;
    expect(index.circuits.map((c) => c.pipeline)).toEqual(['e2e', 'e2e']);
  });

  it('`patchwise viz build` runs through yargs and reports what it wrote', async () => {
    const site = join(dir, 'cli-site');
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      await yargs(['viz', 'build', '--db', db, '--out', site]).command(vizCommand).strict().parseAsync();
      const text = log.mock.calls.map((c) => c.join(' ')).join('\n');
      expect(text).toMatch(/5 runs, 3 circuits, 5 curves/);
    } finally {
      log.mockRestore();
    }
    expect(existsSync(join(site, 'index.html'))).toBe(true);
  });

  it('serves the site on 127.0.0.1 and nothing outside it', async () => {
    const root = resolve(out);
    expect(resolveInside(root, '/')).toBe(join(root, 'index.html'));
    expect(resolveInside(root, '/data/index.js')).toBe(join(root, 'data', 'index.js'));
    expect(resolveInside(root, '/../secret')).toBeUndefined();
    expect(resolveInside(root, '/%2e%2e/secret')).toBeUndefined();
    expect(resolveInside(root, '/%E0%A4%A')).toBeUndefined();
    const s = await serveSite(out, { port: 0 });
    try {
      expect(s.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      const index = await fetch(s.url);
      expect(index.status).toBe(200);
      expect(index.headers.get('content-type')).toMatch(/text\/html/);
      const data = await fetch(`${s.url}data/index.js`);
      expect(data.headers.get('content-type')).toMatch(/javascript/);
      expect(await data.text()).toContain(`window.${VIZ_GLOBAL}.register`);
      expect((await fetch(`${s.url}nope.js`)).status).toBe(404);
      expect((await fetch(s.url, { method: 'POST' })).status).toBe(405);
    } finally {
      await s.close();
    }
    await expect(serveSite(join(dir, 'empty-nothing'))).rejects.toThrow(/no index.html/);
  });

  it('`patchwise viz serve` is registered in the CLI and serves until stopped', async () => {
    const bin = fileURLToPath(new URL('../../bin/patchwise.js', import.meta.url));
    const child = spawn(process.execPath, [bin, 'viz', 'serve', out, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const line = await new Promise<string>((ok, fail) => {
        let text = '';
        child.stdout.on('data', (d: Buffer) => {
          text += d.toString();
          if (text.includes('\n')) ok(text);
        });
        child.stderr.on('data', (d: Buffer) => (text += d.toString()));
        child.on('exit', (code) => fail(new Error(`viz serve exited with ${code}: ${text}`)));
      });
      const m = /serving .* at (http:\/\/127\.0\.0\.1:\d+\/)/.exec(line);
      expect(m, line).not.toBeNull();
      expect((await fetch(m![1]!)).status).toBe(200);
    } finally {
      child.kill('SIGTERM');
    }
  }, 60_000);
});
