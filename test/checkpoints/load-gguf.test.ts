// stories260K through the GGUF loader, checked against the golden values of an independent float64
// implementation that uses GGUF's interleaved RoPE: if the q/k row permutation into the internal
// half-split layout were wrong, the greedy continuation would differ.
import { readFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { readGguf, writeGguf, type GgufTyped } from '../../src/checkpoints/formats/gguf.js';
import { loadModel } from '../../src/checkpoints/load.js';
import type { LoadedModel } from '../../src/model/types.js';
import { describeShared, stories260kGoldenPath, stories260kPath } from '../support/shared.js';

interface Golden {
  greedy_from_bos: number[];
  top5_after_bos: [number, number][];
  top5_at_position_10: [number, number][];
  top5_at_position_63: [number, number][];
  logsumexp_per_position_first8: number[];
}

/** A float64 Llama forward over the internal representation, one position at a time with a KV cache. */
function llamaStepper(m: LoadedModel): (token: number) => Float64Array {
  const c = m.config;
  const { dModel: d, nHeads, nKvHeads, dHead, dMlp, vocabSize } = c;
  const half = dHead / 2;
  const group = nHeads / nKvHeads;
  const keys: number[][][][] = m.weights.layers.map(() => Array.from({ length: nKvHeads }, () => []));
  const vals: number[][][][] = m.weights.layers.map(() => Array.from({ length: nKvHeads }, () => []));
  const rms = (x: Float64Array, w: Float32Array): Float64Array => {
    let ss = 0;
    for (const v of x) ss += v * v;
    const s = 1 / Math.sqrt(ss / x.length + c.normEps);
    return x.map((v, i) => v * s * w[i]!);
  };
  const proj = (x: Float64Array, w: Float32Array, h: number, nOut: number): number[] => {
    const out = new Array<number>(nOut).fill(0);
    const base = h * x.length * nOut;
    for (let i = 0; i < x.length; i++) for (let j = 0; j < nOut; j++) out[j]! += x[i]! * w[base + i * nOut + j]!;
    return out;
  };
  const rope = (v: number[], pos: number): number[] => {
    const out = [...v];
    for (let i = 0; i < half; i++) {
      const a = pos * c.ropeTheta ** (-(2 * i) / dHead);
      out[i] = v[i]! * Math.cos(a) - v[i + half]! * Math.sin(a);
      out[i + half] = v[i]! * Math.sin(a) + v[i + half]! * Math.cos(a);
    }
    return out;
  };
  let pos = 0;
  return (token) => {
    const x = Float64Array.from(m.weights.embed.data.subarray(token * d, (token + 1) * d));
    m.weights.layers.forEach((l, li) => {
      const h = rms(x, l.ln1.weight.data);
      for (let kv = 0; kv < nKvHeads; kv++) {
        keys[li]![kv]!.push(rope(proj(h, l.wk.data, kv, dHead), pos));
        vals[li]![kv]!.push(proj(h, l.wv.data, kv, dHead));
      }
      for (let hd = 0; hd < nHeads; hd++) {
        const q = rope(proj(h, l.wq.data, hd, dHead), pos);
        const ks = keys[li]![Math.floor(hd / group)]!;
        const vs = vals[li]![Math.floor(hd / group)]!;
        const s = ks.map((k) => k.reduce((acc, kj, j) => acc + kj * q[j]!, 0) / Math.sqrt(dHead));
        const mx = Math.max(...s);
        const p = s.map((v) => Math.exp(v - mx));
        const z = p.reduce((a, b) => a + b, 0);
        const zv = new Float64Array(dHead);
        vs.forEach((v, t) => v.forEach((vj, j) => (zv[j]! += (p[t]! / z) * vj)));
        const o = proj(zv, l.wo.data, hd, d);
        for (let i = 0; i < d; i++) x[i]! += o[i]!;
      }
      const h2 = rms(x, l.ln2.weight.data);
      const g = proj(h2, l.wGate!.data, 0, dMlp);
      const u = proj(h2, l.wIn.data, 0, dMlp);
      const a = Float64Array.from(g, (gv, i) => (gv / (1 + Math.exp(-gv))) * u[i]!);
      const o = proj(a, l.wOut.data, 0, d);
      for (let i = 0; i < d; i++) x[i]! += o[i]!;
    });
    pos++;
    return Float64Array.from(proj(rms(x, m.weights.lnFinal.weight.data), m.weights.unembed.data, 0, vocabSize));
  };
}

const top5 = (logits: Float64Array): [number, number][] =>
  [...logits]
    .map((v, i) => [i, v] as [number, number])
    .sort((a, b) => b[1] - a[1])
    .slice(0, 5);

describeShared('GGUF loader: stories260K', () => {
  const dir = mkdtempSync(join(tmpdir(), 'patchwise-lg-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('gives the config of the README', async () => {
    const m = await loadModel(stories260kPath);
    expect(m.config).toMatchObject({
      architecture: 'llama',
      name: 'stories260K',
      dModel: 64,
      nLayers: 5,
      nHeads: 8,
      nKvHeads: 4,
      dHead: 8,
      dMlp: 172,
      vocabSize: 512,
      normEps: 1e-5,
      ropeTheta: 10000,
      tiedEmbeddings: true,
      norm: 'rmsnorm',
      mlp: 'swiglu',
      positional: 'rope',
      bosTokenId: 1,
      eosTokenId: 2,
    });
    expect(m.source).toEqual({ path: stories260kPath, format: 'gguf' });
    const l = m.weights.layers[0]!;
    expect(l.wq.shape).toEqual([8, 64, 8]);
    expect(l.wk.shape).toEqual([4, 64, 8]);
    expect(l.wo.shape).toEqual([8, 8, 64]);
    expect(l.wGate!.shape).toEqual([64, 172]);
    expect(l.wOut.shape).toEqual([172, 64]);
    expect(m.weights.unembed.shape).toEqual([64, 512]);
    expect(m.weights.posEmbed).toBeUndefined();
  });

  it('reproduces the golden greedy continuation and logits (so the RoPE permutation is right)', async () => {
    const golden = JSON.parse(readFileSync(stories260kGoldenPath, 'utf8')) as Golden;
    const m = await loadModel(stories260kPath);
    const step = llamaStepper(m);
    const seq = [1];
    const lse: number[] = [];
    for (let p = 0; p < 64; p++) {
      const logits = step(seq[p]!);
      if (p < 8) {
        const mx = Math.max(...logits);
        lse.push(mx + Math.log(logits.reduce((a, v) => a + Math.exp(v - mx), 0)));
      }
      const want = p === 0 ? golden.top5_after_bos : p === 10 ? golden.top5_at_position_10 : p === 63 ? golden.top5_at_position_63 : undefined;
      if (want) {
        const got = top5(logits);
        expect(got.map((t) => t[0])).toEqual(want.map((t) => t[0]));
        got.forEach((t, i) => expect(t[1]).toBeCloseTo(want[i]![1], 3));
      }
      seq.push(top5(logits)[0]![0]);
    }
    expect(seq).toEqual(golden.greedy_from_bos);
    lse.forEach((v, i) => expect(v).toBeCloseTo(golden.logsumexp_per_position_first8[i]!, 3));
  });

  it('loads an F16 conversion to within half precision', async () => {
    const g = readGguf(stories260kPath);
    const meta = new Map<string, GgufTyped>();
    for (const [k, v] of g.metadata) {
      const type = g.metadataTypes.get(k)!;
      // Token scores and types keep their stored element types.
      const elementType = k === 'tokenizer.ggml.scores' ? 'float32' : k === 'tokenizer.ggml.token_type' ? 'int32' : undefined;
      meta.set(k, { type, value: v, ...(elementType && { elementType }) });
    }
    const path = join(dir, 'stories-f16.gguf');
    writeGguf(
      path,
      meta,
      g.tensors.map((t) => ({
        name: t.name,
        shape: t.shape,
        type: t.shape.length > 1 ? ('F16' as const) : ('F32' as const),
        data: g.readTensor(t.name),
      })),
    );
    const h = readGguf(path);
    expect(h.tensorInfo('blk.0.attn_q.weight')?.type).toBe(1);
    expect(h.metadataTypes.get('llama.attention.layer_norm_rms_epsilon')).toBe('float32');
    const a = await loadModel(stories260kPath);
    const b = await loadModel(path);
    expect({ ...b.config, name: '' }).toEqual({ ...a.config, name: '' });
    a.weights.layers.forEach((la, i) => {
      const lb = b.weights.layers[i]!;
      for (const key of ['wq', 'wk', 'wv', 'wo', 'wIn', 'wGate', 'wOut'] as const) {
        const x = la[key]!.data;
        const y = lb[key]!.data;
        let bad = 0;
        for (let j = 0; j < x.length; j++) if (Math.abs(x[j]! - y[j]!) > Math.abs(x[j]!) * 2 ** -11 + 2 ** -24) bad++;
        expect(bad, `layer ${i} ${key}`).toBe(0);
      }
    });
  });
});
