// Writers and loaders are inverses: init -> write -> load gives the same bits, for both HF layouts,
// sharded checkpoints, prefixed GPT-2 names, and stories260K taken from GGUF to HF Llama.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openSafetensors, readSafetensors, writeSafetensors } from '../../src/checkpoints/formats/safetensors.js';
import { initModel, writeGpt2Hf, writeLlamaHf } from '../../src/synthetic/init.js';
import { loadModel } from '../../src/checkpoints/load.js';
import { getPreset, presetNames } from '../../src/synthetic/presets.js';
import { parameterCount, type LoadedModel, type Tensor } from '../../src/model/types.js';
import { describeShared, stories260kPath } from '../support/shared.js';

const dir = mkdtempSync(join(tmpdir(), 'patchwise-rt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Every weight tensor by a path name, for comparisons that say which one differs. */
function flatten(m: LoadedModel): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  const w = m.weights;
  const add = (name: string, t: Tensor | undefined): void => {
    if (t) out.set(name, t);
  };
  add('embed', w.embed);
  add('posEmbed', w.posEmbed);
  w.layers.forEach((l, i) => {
    for (const [k, v] of Object.entries(l)) {
      if (k === 'ln1' || k === 'ln2') {
        add(`${i}.${k}.weight`, (v as { weight: Tensor }).weight);
        add(`${i}.${k}.bias`, (v as { bias?: Tensor }).bias);
      } else add(`${i}.${k}`, v as Tensor);
    }
  });
  add('lnFinal.weight', w.lnFinal.weight);
  add('lnFinal.bias', w.lnFinal.bias);
  add('unembed', w.unembed);
  add('unembedBias', w.unembedBias);
  return out;
}

function expectSameWeights(a: LoadedModel, b: LoadedModel): void {
  const fa = flatten(a);
  const fb = flatten(b);
  expect([...fb.keys()].sort()).toEqual([...fa.keys()].sort());
  for (const [k, t] of fa) {
    const u = fb.get(k)!;
    expect(u.shape, k).toEqual(t.shape);
    const same = Buffer.compare(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength), Buffer.from(u.data.buffer, u.data.byteOffset, u.data.byteLength)) === 0;
    expect(same, `${k} differs`).toBe(true);
  }
}

const sansName = (m: LoadedModel): object => ({ ...m.config, name: '' });

/** x @ w for x [n] and a row-major w [n, m] (a slice of a larger buffer at `offset`, leading dim ld). */
function vecMat(x: Float32Array, w: Float32Array, n: number, m: number, ld = m, offset = 0): Float64Array {
  const out = new Float64Array(m);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) out[j]! += x[i]! * w[offset + i * ld + j]!;
  return out;
}

describe('presets and init', () => {
  it('has the required presets with their shapes', () => {
    expect(presetNames()).toEqual(expect.arrayContaining(['tiny', 'gpt2-small', 'gpt2-medium', 'gpt2-large', 'gpt2-xl', 'tiny-llama']));
    expect(getPreset('gpt2-small')).toMatchObject({ dModel: 768, nLayers: 12, nHeads: 12, dMlp: 3072, maxPositions: 1024, vocabSize: 50257 });
    expect(getPreset('gpt2-xl')).toMatchObject({ dModel: 1600, nLayers: 48, nHeads: 25, dHead: 64, dMlp: 6400 });
    expect(getPreset('tiny')).toMatchObject({ architecture: 'gpt2', dModel: 64, nLayers: 2, nHeads: 4, vocabSize: 50257, maxPositions: 128 });
    expect(getPreset('tiny-llama')).toMatchObject({ architecture: 'llama', dModel: 64, nLayers: 2, nHeads: 8, nKvHeads: 4, dMlp: 172, vocabSize: 512 });
    expect(() => getPreset('gpt5')).toThrow(/unknown model preset "gpt5" \(presets: tiny, /);
  });

  it('is deterministic in the seed, with non-trivial norms and biases', () => {
    const a = initModel('tiny', 7);
    const b = initModel('tiny', 7);
    const c = initModel('tiny', 8);
    expectSameWeights(a, b);
    expect(a.weights.embed.data[0]).not.toBe(c.weights.embed.data[0]);
    const l = a.weights.layers[0]!;
    expect(l.ln1.weight.data.some((v) => Math.abs(v - 1) > 0.01)).toBe(true);
    expect(l.bq!.data.some((v) => v !== 0)).toBe(true);
    const std = Math.sqrt(a.weights.embed.data.reduce((s, v) => s + v * v, 0) / a.weights.embed.data.length);
    expect(std).toBeCloseTo(0.02, 3);
    expect(parameterCount(a.weights, a.config)).toBe(50257 * 64 + 128 * 64 + 2 * (4 * 64 + 4 * 64 * 64 + 4 * 64 + 2 * 64 * 256 + 256 + 64) + 2 * 64);
  });
});

describe('GPT-2 HF layout', () => {
  it('init -> writeGpt2Hf -> loadModel is bit-exact', async () => {
    const m = initModel('tiny', 1);
    const out = join(dir, 'tiny-gpt2');
    writeGpt2Hf(m, out);
    const back = await loadModel(out);
    expect(sansName(back)).toEqual(sansName(m));
    expect(back.config.name).toBe('tiny-gpt2');
    expect(back.source).toEqual({ path: out, format: 'hf-safetensors' });
    expectSameWeights(m, back);
  });

  it('writes the hub gpt2 names, Conv1D shapes and config fields', () => {
    const m = initModel('tiny', 2);
    const out = join(dir, 'tiny-names');
    writeGpt2Hf(m, out);
    const f = openSafetensors(join(out, 'model.safetensors'));
    expect(f.metadata).toEqual({ format: 'pt' });
    const perLayer = [
      'ln_1.weight',
      'ln_1.bias',
      'attn.c_attn.weight',
      'attn.c_attn.bias',
      'attn.c_proj.weight',
      'attn.c_proj.bias',
      'ln_2.weight',
      'ln_2.bias',
      'mlp.c_fc.weight',
      'mlp.c_fc.bias',
      'mlp.c_proj.weight',
      'mlp.c_proj.bias',
    ];
    const expected = ['wte.weight', 'wpe.weight', 'ln_f.weight', 'ln_f.bias', ...[0, 1].flatMap((i) => perLayer.map((n) => `h.${i}.${n}`))];
    expect([...f.tensors.keys()].sort()).toEqual(expected.sort());
    expect(f.tensors.get('h.0.attn.c_attn.weight')?.shape).toEqual([64, 192]);
    expect(f.tensors.get('h.0.mlp.c_fc.weight')?.shape).toEqual([64, 256]);
    expect(f.tensors.get('h.0.mlp.c_proj.weight')?.shape).toEqual([256, 64]);
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(cfg).toMatchObject({
      model_type: 'gpt2',
      n_embd: 64,
      n_layer: 2,
      n_head: 4,
      n_positions: 128,
      n_inner: null,
      vocab_size: 50257,
      layer_norm_epsilon: 1e-5,
      activation_function: 'gelu_new',
      architectures: ['GPT2LMHeadModel'],
    });
  });

  it('Conv1D semantics: x @ c_attn / c_proj / c_fc from the file match the internal per-head weights', () => {
    const m = initModel('tiny', 3);
    const out = join(dir, 'tiny-sem');
    writeGpt2Hf(m, out);
    const f = readSafetensors(join(out, 'model.safetensors'));
    const d = 64;
    const dh = 16;
    const x = Float32Array.from({ length: d }, (_, i) => Math.cos(i * 0.37));
    const cAttn = f.get('h.1.attn.c_attn.weight')!.data;
    const cAttnB = f.get('h.1.attn.c_attn.bias')!.data;
    const qkv = vecMat(x, cAttn, d, 3 * d);
    const l = m.weights.layers[1]!;
    for (let h = 0; h < 4; h++) {
      for (const [which, w, b] of [
        [0, l.wq, l.bq],
        [1, l.wk, l.bk],
        [2, l.wv, l.bv],
      ] as const) {
        const mine = vecMat(x, w.data, d, dh, dh, h * d * dh);
        for (let j = 0; j < dh; j++) {
          const col = which * d + h * dh + j;
          expect(mine[j]).toBeCloseTo(qkv[col]!, 10);
          expect(b!.data[h * dh + j]).toBe(cAttnB[col]);
        }
      }
    }
    // c_proj: z (all heads concatenated) @ c_proj == sum_h z_h @ wo[h]
    const z = Float32Array.from({ length: d }, (_, i) => Math.sin(i * 0.91));
    const full = vecMat(z, f.get('h.1.attn.c_proj.weight')!.data, d, d);
    const perHead = new Float64Array(d);
    for (let h = 0; h < 4; h++) {
      const part = vecMat(z.subarray(h * dh, (h + 1) * dh), l.wo.data, dh, d, d, h * dh * d);
      part.forEach((v, i) => (perHead[i]! += v));
    }
    perHead.forEach((v, i) => expect(v).toBeCloseTo(full[i]!, 10));
  });

  it('loads transformer.-prefixed names (GPT2LMHeadModel checkpoints) and ignores attn.bias buffers', async () => {
    const m = initModel('tiny', 4);
    const out = join(dir, 'tiny-prefixed');
    writeGpt2Hf(m, out);
    const st = join(out, 'model.safetensors');
    const tensors = readSafetensors(st);
    const renamed = new Map([...tensors].map(([k, v]) => [`transformer.${k}`, v]));
    renamed.set('transformer.h.0.attn.bias', { shape: [1, 1, 128, 128], data: new Float32Array(128 * 128).fill(1) });
    renamed.set('transformer.h.0.attn.masked_bias', { shape: [], data: Float32Array.of(-1e4) });
    writeSafetensors(st, renamed, { format: 'pt' });
    expectSameWeights(m, await loadModel(out));
  });

  it('an untied lm_head survives the round trip', async () => {
    const m0 = initModel('tiny', 5);
    const unembed = { shape: m0.weights.unembed.shape, data: m0.weights.unembed.data.map((v) => v * 2) };
    const m: LoadedModel = { ...m0, config: { ...m0.config, tiedEmbeddings: false }, weights: { ...m0.weights, unembed } };
    const out = join(dir, 'tiny-untied');
    writeGpt2Hf(m, out);
    const back = await loadModel(out);
    expect(back.config.tiedEmbeddings).toBe(false);
    expectSameWeights(m, back);
  });
});

describe('Llama HF layout', () => {
  it('init tiny-llama -> writeLlamaHf -> loadModel is bit-exact', async () => {
    const m = initModel('tiny-llama', 1);
    const out = join(dir, 'tiny-llama');
    writeLlamaHf(m, out);
    const back = await loadModel(out);
    expect(sansName(back)).toEqual(sansName(m));
    expectSameWeights(m, back);
    const f = openSafetensors(join(out, 'model.safetensors'));
    expect(f.tensors.get('model.layers.0.self_attn.q_proj.weight')?.shape).toEqual([64, 64]);
    expect(f.tensors.get('model.layers.0.self_attn.k_proj.weight')?.shape).toEqual([32, 64]);
    expect(f.tensors.get('model.layers.0.mlp.down_proj.weight')?.shape).toEqual([64, 172]);
    expect(f.tensors.has('lm_head.weight')).toBe(true);
  });

  it('Linear semantics: W x from the file matches x @ wq[h], and o_proj matches wo', () => {
    const m = initModel('tiny-llama', 2);
    const out = join(dir, 'tiny-llama-sem');
    writeLlamaHf(m, out);
    const f = readSafetensors(join(out, 'model.safetensors'));
    const d = 64;
    const dh = 8;
    const x = Float32Array.from({ length: d }, (_, i) => Math.cos(i * 0.37));
    const wk = f.get('model.layers.1.self_attn.k_proj.weight')!.data; // [32, 64]
    const l = m.weights.layers[1]!;
    for (let h = 0; h < 4; h++) {
      const mine = vecMat(x, l.wk.data, d, dh, dh, h * d * dh);
      for (let j = 0; j < dh; j++) {
        let ref = 0;
        for (let i = 0; i < d; i++) ref += wk[(h * dh + j) * d + i]! * x[i]!;
        expect(mine[j]).toBeCloseTo(ref, 10);
      }
    }
    const wo = f.get('model.layers.1.self_attn.o_proj.weight')!.data; // [64, 64] out x in
    const z = Float32Array.from({ length: d }, (_, i) => Math.sin(i * 0.91));
    for (let o = 0; o < d; o += 7) {
      let ref = 0;
      for (let i = 0; i < d; i++) ref += wo[o * d + i]! * z[i]!;
      let mine = 0;
      for (let h = 0; h < 8; h++) for (let j = 0; j < dh; j++) mine += z[h * dh + j]! * l.wo.data[(h * dh + j) * d + o]!;
      expect(mine).toBeCloseTo(ref, 10);
    }
  });

  it('loads a sharded checkpoint (model.safetensors.index.json)', async () => {
    const m = initModel('tiny-llama', 3);
    const out = join(dir, 'tiny-llama-sharded');
    writeLlamaHf(m, out);
    const all = readSafetensors(join(out, 'model.safetensors'));
    rmSync(join(out, 'model.safetensors'));
    const names = [...all.keys()];
    const shards = [names.slice(0, 10), names.slice(10)];
    const weightMap: Record<string, string> = {};
    shards.forEach((part, i) => {
      const file = `model-0000${i + 1}-of-00002.safetensors`;
      writeSafetensors(join(out, file), new Map(part.map((n) => [n, all.get(n)!])), { format: 'pt' });
      for (const n of part) weightMap[n] = file;
    });
    writeFileSync(join(out, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    expectSameWeights(m, await loadModel(out));
  });
});

describeShared('stories260K: GGUF -> HF Llama -> load', () => {
  it('gives identical weights and config (q/k rows written as held: half-split is the HF layout)', async () => {
    const m = await loadModel(stories260kPath);
    const out = join(dir, 'stories260K-hf');
    writeLlamaHf(m, out);
    const f = openSafetensors(join(out, 'model.safetensors'));
    expect(f.tensors.has('lm_head.weight')).toBe(false);
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(cfg).toMatchObject({
      model_type: 'llama',
      hidden_size: 64,
      num_hidden_layers: 5,
      num_attention_heads: 8,
      num_key_value_heads: 4,
      intermediate_size: 172,
      rms_norm_eps: 1e-5,
      rope_theta: 10000,
      tie_word_embeddings: true,
      vocab_size: 512,
    });
    const back = await loadModel(out);
    expect(sansName(back)).toEqual(sansName(m));
    expectSameWeights(m, back);
  });
});
