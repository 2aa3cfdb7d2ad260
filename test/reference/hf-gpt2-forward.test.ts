// The HF-layout GPT-2 forward against the reference: the conversion written here (internal layout
// -> HF Conv1D names) is the inverse of what the GPT-2 loader must do.
import { describe, expect, it } from 'vitest';
import type { ModelConfig, ModelWeights, Tensor } from '../../src/model/types.js';
import { type HfTensor, hfGpt2Forward } from './hf-gpt2-forward.js';
import { plainForward } from './patched-forward.js';
import { maxAbs, maxAbsDiff, randomModel, randomTokens } from './random-model.js';

/** Internal weights -> HF GPT-2 checkpoint tensors (Conv1D layout: [in, out]). */
function toHf(cfg: ModelConfig, w: ModelWeights): Map<string, HfTensor> {
  const { dModel: d, nHeads: H, dHead: dh } = cfg;
  const m = new Map<string, HfTensor>();
  const put = (name: string, t: Tensor | undefined): void => {
    if (!t) throw new Error(`GPT-2 needs ${name}`);
    m.set(name, { shape: [...t.shape], data: Float32Array.from(t.data) });
  };
  put('wte.weight', w.embed);
  put('wpe.weight', w.posEmbed);
  w.layers.forEach((lw, l) => {
    const p = `h.${l}`;
    put(`${p}.ln_1.weight`, lw.ln1.weight);
    put(`${p}.ln_1.bias`, lw.ln1.bias);
    // c_attn [d, 3d]: q | k | v blocks along the out dimension; head h at columns h*dh.. of each block.
    const cAttn = new Float32Array(d * 3 * d);
    const cAttnBias = new Float32Array(3 * d);
    [lw.wq, lw.wk, lw.wv].forEach((wt, block) => {
      const bt = [lw.bq, lw.bk, lw.bv][block]!;
      for (let h = 0; h < H; h++) {
        for (let j = 0; j < dh; j++) {
          const col = block * d + h * dh + j;
          for (let i = 0; i < d; i++) cAttn[i * 3 * d + col] = wt.data[(h * d + i) * dh + j]!;
          cAttnBias[col] = bt!.data[h * dh + j]!;
        }
      }
    });
    m.set(`${p}.attn.c_attn.weight`, { shape: [d, 3 * d], data: cAttn });
    m.set(`${p}.attn.c_attn.bias`, { shape: [3 * d], data: cAttnBias });
    // c_proj [d, d]: row h*dh + j is wo[h, j, :], since merged z has head h at columns h*dh...
    put(`${p}.attn.c_proj.weight`, { shape: [d, d], data: lw.wo.data });
    put(`${p}.attn.c_proj.bias`, lw.bo);
    put(`${p}.ln_2.weight`, lw.ln2.weight);
    put(`${p}.ln_2.bias`, lw.ln2.bias);
    put(`${p}.mlp.c_fc.weight`, lw.wIn);
    put(`${p}.mlp.c_fc.bias`, lw.bIn);
    put(`${p}.mlp.c_proj.weight`, lw.wOut);
    put(`${p}.mlp.c_proj.bias`, lw.bOut);
  });
  put('ln_f.weight', w.lnFinal.weight);
  put('ln_f.bias', w.lnFinal.bias);
  return m;
}

function transpose(t: HfTensor): HfTensor {
  const [r, c] = t.shape as [number, number];
  const data = new Float32Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) data[j * r + i] = t.data[i * c + j]!;
  return { shape: [c, r], data };
}

describe('HF GPT-2 forward', () => {
  const model = randomModel('gpt2', { dModel: 48, nLayers: 3, nHeads: 4, vocabSize: 211 }, 42);
  const cfg = model.config;
  const hfCfg = { nLayers: cfg.nLayers, nHeads: cfg.nHeads, dModel: cfg.dModel, eps: cfg.normEps };
  const hf = toHf(cfg, model.weights);
  const tokens = randomTokens(8, cfg.vocabSize, 5);
  const ref = plainForward(model, { tokens }).logits;

  it('equals the reference forward on converted weights', () => {
    const logits = hfGpt2Forward(hf, hfCfg, tokens).logits;
    expect(maxAbsDiff(logits, ref)).toBeLessThanOrEqual(1e-10 * Math.max(1, maxAbs(ref)));
    expect(maxAbs(ref)).toBeGreaterThan(1);
  });

  it('accepts the transformer. prefix of GPT2LMHeadModel checkpoints', () => {
    const prefixed = new Map([...hf].map(([k, v]) => [`transformer.${k}`, v]));
    expect(maxAbsDiff(hfGpt2Forward(prefixed, hfCfg, tokens).logits, ref)).toBeLessThanOrEqual(1e-10 * Math.max(1, maxAbs(ref)));
  });

  it('is sensitive to layout: a transposed square c_proj gives other logits', () => {
    const wrong = new Map(hf);
    wrong.set('h.1.attn.c_proj.weight', transpose(hf.get('h.1.attn.c_proj.weight')!));
    expect(maxAbsDiff(hfGpt2Forward(wrong, hfCfg, tokens).logits, ref)).toBeGreaterThan(1e-3);
  });

  it('names a missing or misshapen tensor', () => {
    const missing = new Map(hf);
    missing.delete('h.2.mlp.c_fc.bias');
    expect(() => hfGpt2Forward(missing, hfCfg, tokens)).toThrow(/h\.2\.mlp\.c_fc\.bias/);
    const linearLayout = new Map(hf);
    linearLayout.set('h.0.attn.c_attn.weight', transpose(hf.get('h.0.attn.c_attn.weight')!));
    expect(() => hfGpt2Forward(linearLayout, hfCfg, tokens)).toThrow(/c_attn\.weight has shape \[144, 48\]/);
  });
});
