// LoadedModel -> Hugging Face checkpoint directories (config.json + model.safetensors), the exact
// inverses of load-gpt2-hf.ts and load-llama-hf.ts. GPT-2 is written like the hub's `gpt2`
// checkpoint (GPT2Model names without a prefix, Conv1D layout, lm_head tied to wte and not
// stored). Llama q/k rows are written as they are held: the internal half-split RoPE layout is the
// HF one.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeSafetensors, type TensorToWrite } from './formats/safetensors.js';
import { headsToConv1dCols, headsToLinearRows, transpose } from './layout.js';
import type { LoadedModel, ModelConfig, Tensor } from '../model/types.js';

const ST_METADATA = { format: 'pt' }; // transformers refuses safetensors files without it

export function writeGpt2Hf(model: LoadedModel, dir: string): void {
  const { config: c, weights: w } = model;
  check(c.architecture === 'gpt2' && c.norm === 'layernorm' && c.mlp === 'gelu_new' && c.positional === 'learned', c, 'the GPT-2 layout needs a gpt2 architecture model');
  check(c.nKvHeads === c.nHeads && c.nHeads * c.dHead === c.dModel, c, 'GPT-2 needs nKvHeads = nHeads and nHeads * dHead = dModel');
  check(w.posEmbed !== undefined, c, 'GPT-2 needs learned position embeddings');
  check(w.unembedBias === undefined, c, 'GPT-2 has no unembedding bias');
  const { dModel: d, nHeads, dHead, dMlp } = c;
  const t = new Map<string, TensorToWrite>();
  const put = (name: string, shape: number[], data: Float32Array): void => {
    t.set(name, { shape, data });
  };
  put('wte.weight', [c.vocabSize, d], w.embed.data);
  put('wpe.weight', [c.maxPositions, d], w.posEmbed!.data);
  w.layers.forEach((l, i) => {
    const h = `h.${i}.`;
    put(`${h}ln_1.weight`, [d], l.ln1.weight.data);
    put(`${h}ln_1.bias`, [d], orZeros(l.ln1.bias, d));
    const cAttn = new Float32Array(d * 3 * d);
    headsToConv1dCols(l.wq.data, cAttn, d, 3 * d, 0, nHeads, dHead);
    headsToConv1dCols(l.wk.data, cAttn, d, 3 * d, d, nHeads, dHead);
    headsToConv1dCols(l.wv.data, cAttn, d, 3 * d, 2 * d, nHeads, dHead);
    put(`${h}attn.c_attn.weight`, [d, 3 * d], cAttn);
    const cAttnB = new Float32Array(3 * d);
    cAttnB.set(orZeros(l.bq, d), 0);
    cAttnB.set(orZeros(l.bk, d), d);
    cAttnB.set(orZeros(l.bv, d), 2 * d);
    put(`${h}attn.c_attn.bias`, [3 * d], cAttnB);
    put(`${h}attn.c_proj.weight`, [d, d], l.wo.data); // [nHeads, dHead, d] is Conv1D [in, out] already
    put(`${h}attn.c_proj.bias`, [d], orZeros(l.bo, d));
    put(`${h}ln_2.weight`, [d], l.ln2.weight.data);
    put(`${h}ln_2.bias`, [d], orZeros(l.ln2.bias, d));
    put(`${h}mlp.c_fc.weight`, [d, dMlp], l.wIn.data);
    put(`${h}mlp.c_fc.bias`, [dMlp], orZeros(l.bIn, dMlp));
    put(`${h}mlp.c_proj.weight`, [dMlp, d], l.wOut.data);
    put(`${h}mlp.c_proj.bias`, [d], orZeros(l.bOut, d));
  });
  put('ln_f.weight', [d], w.lnFinal.weight.data);
  put('ln_f.bias', [d], orZeros(w.lnFinal.bias, d));
  if (!c.tiedEmbeddings) put('lm_head.weight', [c.vocabSize, d], transpose(w.unembed.data, d, c.vocabSize));

  const config = {
    activation_function: 'gelu_new',
    architectures: ['GPT2LMHeadModel'],
    attn_pdrop: 0.1,
    bos_token_id: c.bosTokenId ?? 50256,
    embd_pdrop: 0.1,
    eos_token_id: c.eosTokenId ?? 50256,
    initializer_range: 0.02,
    layer_norm_epsilon: c.normEps,
    model_type: 'gpt2',
    n_ctx: c.maxPositions,
    n_embd: d,
    n_head: nHeads,
    n_inner: dMlp === 4 * d ? null : dMlp,
    n_layer: c.nLayers,
    n_positions: c.maxPositions,
    resid_pdrop: 0.1,
    scale_attn_weights: true,
    summary_activation: null,
    summary_first_dropout: 0.1,
    summary_proj_to_labels: true,
    summary_type: 'cls_index',
    summary_use_proj: true,
    tie_word_embeddings: c.tiedEmbeddings,
    use_cache: true,
    vocab_size: c.vocabSize,
  };
  writeCheckpoint(dir, config, t);
}

export function writeLlamaHf(model: LoadedModel, dir: string): void {
  const { config: c, weights: w } = model;
  check(c.architecture === 'llama' && c.norm === 'rmsnorm' && c.mlp === 'swiglu' && c.positional === 'rope', c, 'the Llama layout needs a llama architecture model');
  check(w.unembedBias === undefined && w.posEmbed === undefined, c, 'Llama has no unembedding bias or learned positions');
  const { dModel: d, nHeads, nKvHeads, dHead, dMlp } = c;
  const hasBias = w.layers.some((l) => l.bq || l.bk || l.bv || l.bo);
  const t = new Map<string, TensorToWrite>();
  const put = (name: string, shape: number[], data: Float32Array): void => {
    t.set(name, { shape, data });
  };
  put('model.embed_tokens.weight', [c.vocabSize, d], w.embed.data);
  w.layers.forEach((l, i) => {
    const p = `model.layers.${i}.`;
    check(l.wGate !== undefined, c, `layer ${i} has no gate projection`);
    put(`${p}input_layernorm.weight`, [d], l.ln1.weight.data);
    put(`${p}self_attn.q_proj.weight`, [nHeads * dHead, d], headsToLinearRows(l.wq.data, nHeads, dHead, d));
    put(`${p}self_attn.k_proj.weight`, [nKvHeads * dHead, d], headsToLinearRows(l.wk.data, nKvHeads, dHead, d));
    put(`${p}self_attn.v_proj.weight`, [nKvHeads * dHead, d], headsToLinearRows(l.wv.data, nKvHeads, dHead, d));
    put(`${p}self_attn.o_proj.weight`, [d, nHeads * dHead], transpose(l.wo.data, nHeads * dHead, d));
    if (hasBias) {
      put(`${p}self_attn.q_proj.bias`, [nHeads * dHead], orZeros(l.bq, nHeads * dHead));
      put(`${p}self_attn.k_proj.bias`, [nKvHeads * dHead], orZeros(l.bk, nKvHeads * dHead));
      put(`${p}self_attn.v_proj.bias`, [nKvHeads * dHead], orZeros(l.bv, nKvHeads * dHead));
      put(`${p}self_attn.o_proj.bias`, [d], orZeros(l.bo, d));
    }
    put(`${p}post_attention_layernorm.weight`, [d], l.ln2.weight.data);
    put(`${p}mlp.gate_proj.weight`, [dMlp, d], transpose(l.wGate!.data, d, dMlp));
    put(`${p}mlp.up_proj.weight`, [dMlp, d], transpose(l.wIn.data, d, dMlp));
    put(`${p}mlp.down_proj.weight`, [d, dMlp], transpose(l.wOut.data, dMlp, d));
  });
  put('model.norm.weight', [d], w.lnFinal.weight.data);
  if (!c.tiedEmbeddings) put('lm_head.weight', [c.vocabSize, d], transpose(w.unembed.data, d, c.vocabSize));

  const config = {
    architectures: ['LlamaForCausalLM'],
    attention_bias: hasBias,
    attention_dropout: 0.0,
    bos_token_id: c.bosTokenId ?? null,
    eos_token_id: c.eosTokenId ?? null,
    ...(dHead * nHeads !== d && { head_dim: dHead }),
    hidden_act: 'silu',
    hidden_size: d,
    initializer_range: 0.02,
    intermediate_size: dMlp,
    max_position_embeddings: c.maxPositions,
    mlp_bias: false,
    model_type: 'llama',
    num_attention_heads: nHeads,
    num_hidden_layers: c.nLayers,
    num_key_value_heads: nKvHeads,
    pretraining_tp: 1,
    rms_norm_eps: c.normEps,
    rope_scaling: null,
    rope_theta: c.ropeTheta,
    tie_word_embeddings: c.tiedEmbeddings,
    torch_dtype: 'float32',
    use_cache: true,
    vocab_size: c.vocabSize,
  };
  writeCheckpoint(dir, config, t);
}

function writeCheckpoint(dir: string, config: object, tensors: ReadonlyMap<string, TensorToWrite>): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  writeSafetensors(join(dir, 'model.safetensors'), tensors, ST_METADATA);
}

function orZeros(t: Tensor | undefined, n: number): Float32Array {
  return t?.data ?? new Float32Array(n);
}

/** Writers receive models built by patchwise, so a mismatch is a programming error, not a UserError. */
function check(ok: boolean, c: ModelConfig, why: string): asserts ok {
  if (!ok) throw new Error(`cannot write model ${c.name}: ${why}`);
}
