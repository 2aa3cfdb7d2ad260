// Hugging Face GPT-2 (config.json + safetensors) -> LoadedModel. GPT-2 stores its projections as
// Conv1D, in x out: the transpose of a torch Linear. c_attn packs q | k | v along its output columns
// with heads contiguous within each; c_proj rows are grouped by head, which is already the internal
// wo [nHeads, dHead, dModel] layout.
import { basename, join } from 'node:path';
import { UserError } from '../core/errors.js';
import { ConfigFields, openHfTensors, readHfConfig } from './hf-checkpoint.js';
import { conv1dColsToHeads, transpose } from './layout.js';
import { expectTensor } from './tensor-source.js';
import { tensor, type LayerWeights, type LoadedModel, type ModelConfig } from '../model/types.js';

export function gpt2ConfigFromHf(c: ConfigFields, name: string): ModelConfig {
  const act = c.str('activation_function', 'gelu_new');
  if (act !== 'gelu_new') throw new UserError(`${c.path}: activation_function ${act} is not supported (GPT-2 models use gelu_new)`);
  if (c.bool('scale_attn_by_inverse_layer_idx', false)) throw new UserError(`${c.path}: scale_attn_by_inverse_layer_idx=true is not supported`);
  if (!c.bool('scale_attn_weights', true)) throw new UserError(`${c.path}: scale_attn_weights=false is not supported`);
  const dModel = c.int('n_embd');
  const nHeads = c.int('n_head');
  if (dModel % nHeads !== 0) throw new UserError(`${c.path}: n_embd=${dModel} is not a multiple of n_head=${nHeads}`);
  return {
    architecture: 'gpt2',
    name,
    dModel,
    nLayers: c.int('n_layer'),
    nHeads,
    nKvHeads: nHeads,
    dHead: dModel / nHeads,
    dMlp: c.int('n_inner', 4 * dModel),
    vocabSize: c.int('vocab_size'),
    maxPositions: c.int('n_positions', c.int('n_ctx', 1024)),
    norm: 'layernorm',
    normEps: c.num('layer_norm_epsilon', 1e-5),
    mlp: 'gelu_new',
    positional: 'learned',
    ropeTheta: 10000, // unused with learned positions
    tiedEmbeddings: c.bool('tie_word_embeddings', true),
    bosTokenId: c.tokenId('bos_token_id'),
    eosTokenId: c.tokenId('eos_token_id'),
  };
}

export function loadGpt2Hf(dir: string): LoadedModel {
  const c = new ConfigFields(readHfConfig(dir), join(dir, 'config.json'));
  const cfg0 = gpt2ConfigFromHf(c, basename(dir));
  const src = openHfTensors(dir);
  // GPT2LMHeadModel checkpoints prefix the body with "transformer."; GPT2Model ones (the hub's gpt2) do not.
  const p = src.shapeOf('transformer.wte.weight') ? 'transformer.' : '';
  const { dModel: d, nHeads, dHead, dMlp, vocabSize, maxPositions } = cfg0;
  const whyD = c.why('n_embd');
  const get = (name: string, shape: number[], why = whyD): Float32Array => expectTensor(src, p + name, shape, why);

  const embed = get('wte.weight', [vocabSize, d], c.why('vocab_size', 'n_embd'));
  const posEmbed = get('wpe.weight', [maxPositions, d], c.why(c.cfg.n_positions !== undefined ? 'n_positions' : 'n_ctx', 'n_embd'));

  const layers: LayerWeights[] = [];
  for (let l = 0; l < cfg0.nLayers; l++) {
    const h = `h.${l}.`;
    const cAttn = get(`${h}attn.c_attn.weight`, [d, 3 * d]);
    const cAttnB = get(`${h}attn.c_attn.bias`, [3 * d]);
    const whyMlp = c.why('n_embd', 'n_inner');
    layers.push({
      ln1: { weight: tensor([d], get(`${h}ln_1.weight`, [d])), bias: tensor([d], get(`${h}ln_1.bias`, [d])) },
      wq: tensor([nHeads, d, dHead], conv1dColsToHeads(cAttn, d, 3 * d, 0, nHeads, dHead)),
      wk: tensor([nHeads, d, dHead], conv1dColsToHeads(cAttn, d, 3 * d, d, nHeads, dHead)),
      wv: tensor([nHeads, d, dHead], conv1dColsToHeads(cAttn, d, 3 * d, 2 * d, nHeads, dHead)),
      bq: tensor([nHeads, dHead], cAttnB.slice(0, d)),
      bk: tensor([nHeads, dHead], cAttnB.slice(d, 2 * d)),
      bv: tensor([nHeads, dHead], cAttnB.slice(2 * d, 3 * d)),
      wo: tensor([nHeads, dHead, d], get(`${h}attn.c_proj.weight`, [d, d])),
      bo: tensor([d], get(`${h}attn.c_proj.bias`, [d])),
      ln2: { weight: tensor([d], get(`${h}ln_2.weight`, [d])), bias: tensor([d], get(`${h}ln_2.bias`, [d])) },
      wIn: tensor([d, dMlp], get(`${h}mlp.c_fc.weight`, [d, dMlp], whyMlp)),
      bIn: tensor([dMlp], get(`${h}mlp.c_fc.bias`, [dMlp], whyMlp)),
      wOut: tensor([dMlp, d], get(`${h}mlp.c_proj.weight`, [dMlp, d], whyMlp)),
      bOut: tensor([d], get(`${h}mlp.c_proj.bias`, [d])),
    });
  }
  const lnFinal = { weight: tensor([d], get('ln_f.weight', [d])), bias: tensor([d], get('ln_f.bias', [d])) };
  // As in transformers: tied (the default) means lm_head is wte, whatever the file holds.
  const head = cfg0.tiedEmbeddings ? undefined : expectTensor(src, 'lm_head.weight', [vocabSize, d], `${c.why('vocab_size', 'n_embd')}, tie_word_embeddings=false`);
  const unembed = tensor([d, vocabSize], transpose(head ?? embed, vocabSize, d));
  return {
    config: cfg0,
    weights: { embed: tensor([vocabSize, d], embed), posEmbed: tensor([maxPositions, d], posEmbed), layers, lnFinal, unembed },
    source: { path: dir, format: 'hf-safetensors' },
  };
}
