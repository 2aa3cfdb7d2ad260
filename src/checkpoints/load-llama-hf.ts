// Hugging Face Llama (config.json + safetensors, possibly sharded) -> LoadedModel. Projections are
// torch Linear weights [out, in]. HF q/k rows are already in the half-split ("rotate_half") RoPE
// layout the internal representation uses, so unlike GGUF no row permutation is applied.
import { basename, join } from 'node:path';
import { UserError } from '../core/errors.js';
import { ConfigFields, openHfTensors, readHfConfig } from './hf-checkpoint.js';
import { linearRowsToHeads, transpose } from './layout.js';
import { expectTensor, optionalTensor } from './tensor-source.js';
import { tensor, type LayerWeights, type LoadedModel, type ModelConfig } from '../model/types.js';

export function llamaConfigFromHf(c: ConfigFields, name: string): ModelConfig {
  const act = c.str('hidden_act', 'silu');
  if (act !== 'silu') throw new UserError(`${c.path}: hidden_act ${act} is not supported (Llama models use silu)`);
  const scaling = c.cfg.rope_scaling;
  if (scaling !== undefined && scaling !== null) {
    throw new UserError(`${c.path}: rope_scaling ${JSON.stringify(scaling)} is not supported (plain RoPE only)`);
  }
  if (c.bool('mlp_bias', false)) throw new UserError(`${c.path}: mlp_bias=true is not supported`);
  const dModel = c.int('hidden_size');
  const nHeads = c.int('num_attention_heads');
  const nKvHeads = c.int('num_key_value_heads', nHeads);
  if (nHeads % nKvHeads !== 0) {
    throw new UserError(`${c.path}: num_attention_heads=${nHeads} is not a multiple of num_key_value_heads=${nKvHeads}`);
  }
  if (c.cfg.head_dim == null && dModel % nHeads !== 0) {
    throw new UserError(`${c.path}: hidden_size=${dModel} is not a multiple of num_attention_heads=${nHeads}`);
  }
  const dHead = c.int('head_dim', dModel / nHeads);
  if (dHead % 2 !== 0) throw new UserError(`${c.path}: the head size ${dHead} must be even for RoPE`);
  return {
    architecture: 'llama',
    name,
    dModel,
    nLayers: c.int('num_hidden_layers'),
    nHeads,
    nKvHeads,
    dHead,
    dMlp: c.int('intermediate_size'),
    vocabSize: c.int('vocab_size'),
    maxPositions: c.int('max_position_embeddings', 2048),
    norm: 'rmsnorm',
    normEps: c.num('rms_norm_eps', 1e-6),
    mlp: 'swiglu',
    positional: 'rope',
    ropeTheta: c.num('rope_theta', 10000),
    // LlamaConfig's default.
    tiedEmbeddings: c.bool('tie_word_embeddings', false),
    bosTokenId: c.tokenId('bos_token_id'),
    eosTokenId: c.tokenId('eos_token_id'),
  };
}

export function loadLlamaHf(dir: string): LoadedModel {
  const c = new ConfigFields(readHfConfig(dir), join(dir, 'config.json'));
  const cfg0 = llamaConfigFromHf(c, basename(dir));
  const src = openHfTensors(dir);
  const { dModel: d, nHeads, nKvHeads, dHead, dMlp, vocabSize } = cfg0;
  const headField = c.cfg.head_dim == null ? [] : ['head_dim'];
  const whyQ = c.why('hidden_size', 'num_attention_heads', ...headField);
  const whyKv = c.why('hidden_size', 'num_key_value_heads', ...headField);
  const whyMlp = c.why('hidden_size', 'intermediate_size');
  const bias = c.bool('attention_bias', false);

  const embed = expectTensor(src, 'model.embed_tokens.weight', [vocabSize, d], c.why('vocab_size', 'hidden_size'));
  const layers: LayerWeights[] = [];
  for (let l = 0; l < cfg0.nLayers; l++) {
    const p = `model.layers.${l}.`;
    const get = (name: string, shape: number[], why: string): Float32Array => expectTensor(src, p + name, shape, why);
    const getBias = (name: string, n: number, why: string): Float32Array | undefined => (bias ? expectTensor(src, p + name, [n], why) : optionalTensor(src, p + name, [n], why));
    const bq = getBias('self_attn.q_proj.bias', nHeads * dHead, whyQ);
    const bk = getBias('self_attn.k_proj.bias', nKvHeads * dHead, whyKv);
    const bv = getBias('self_attn.v_proj.bias', nKvHeads * dHead, whyKv);
    const bo = getBias('self_attn.o_proj.bias', d, c.why('hidden_size'));
    layers.push({
      ln1: { weight: tensor([d], get('input_layernorm.weight', [d], c.why('hidden_size'))) },
      wq: tensor([nHeads, d, dHead], linearRowsToHeads(get('self_attn.q_proj.weight', [nHeads * dHead, d], whyQ), nHeads, dHead, d)),
      wk: tensor([nKvHeads, d, dHead], linearRowsToHeads(get('self_attn.k_proj.weight', [nKvHeads * dHead, d], whyKv), nKvHeads, dHead, d)),
      wv: tensor([nKvHeads, d, dHead], linearRowsToHeads(get('self_attn.v_proj.weight', [nKvHeads * dHead, d], whyKv), nKvHeads, dHead, d)),
      ...(bq && { bq: tensor([nHeads, dHead], bq) }),
      ...(bk && { bk: tensor([nKvHeads, dHead], bk) }),
      ...(bv && { bv: tensor([nKvHeads, dHead], bv) }),
      wo: tensor([nHeads, dHead, d], transpose(get('self_attn.o_proj.weight', [d, nHeads * dHead], whyQ), d, nHeads * dHead)),
      ...(bo && { bo: tensor([d], bo) }),
      ln2: { weight: tensor([d], get('post_attention_layernorm.weight', [d], c.why('hidden_size'))) },
      wIn: tensor([d, dMlp], transpose(get('mlp.up_proj.weight', [dMlp, d], whyMlp), dMlp, d)),
      wGate: tensor([d, dMlp], transpose(get('mlp.gate_proj.weight', [dMlp, d], whyMlp), dMlp, d)),
      wOut: tensor([dMlp, d], transpose(get('mlp.down_proj.weight', [d, dMlp], whyMlp), d, dMlp)),
    });
  }
  const lnFinal = { weight: tensor([d], expectTensor(src, 'model.norm.weight', [d], c.why('hidden_size'))) };
  const whyHead = c.why('vocab_size', 'hidden_size');
  // As in transformers: tie_word_embeddings=true means lm_head is embed_tokens, whatever the file holds.
  const head = cfg0.tiedEmbeddings ? undefined : expectTensor(src, 'lm_head.weight', [vocabSize, d], `${whyHead}, tie_word_embeddings=false`);
  return {
    config: cfg0,
    weights: { embed: tensor([vocabSize, d], embed), layers, lnFinal, unembed: tensor([d, vocabSize], transpose(head ?? embed, vocabSize, d)) },
    source: { path: dir, format: 'hf-safetensors' },
  };
}
