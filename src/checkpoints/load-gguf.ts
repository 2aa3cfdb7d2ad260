// Llama-family GGUF -> LoadedModel. GGUF lists dimensions innermost first, so a tensor with GGUF
// dims [in, out] is a row-major [out, in] matrix, like a torch Linear weight. Its q/k rows rotate
// interleaved pairs (2i, 2i+1) within each head; the internal layout rotates half-split pairs
// (i, i + dHead/2), so q/k rows are permuted within each head (the inverse of the permutation that
// HF -> GGUF converters apply). q and k get the same permutation, so attention scores are unchanged.
import { basename } from 'node:path';
import { UserError } from '../core/errors.js';
import { ggufNumber, ggufString, readGguf, type GgufFile } from './formats/gguf.js';
import { interleavedSource, linearRowsToHeads, permuteHeadBias, sameBits, transpose } from './layout.js';
import { expectTensor, optionalTensor, type TensorSource } from './tensor-source.js';
import { tensor, type LayerWeights, type LoadedModel, type ModelConfig } from '../model/types.js';

const SUPPORTED_ARCHS = ['llama'];

export function loadGguf(path: string): LoadedModel {
  const g = readGguf(path);
  const arch = ggufString(g, 'general.architecture');
  if (!SUPPORTED_ARCHS.includes(arch)) {
    throw new UserError(`${path}: GGUF architecture ${arch} is not supported (supported: ${SUPPORTED_ARCHS.join(', ')})`);
  }
  const cfg0 = ggufLlamaConfig(g, arch);
  const src = ggufSource(g);
  const { dModel: d, nHeads, nKvHeads, dHead, dMlp, vocabSize } = cfg0;
  const why = (...keys: string[]): string => `GGUF ${keys.map((k) => `${k}=${String(g.metadata.get(k) ?? null)}`).join(', ')}`;
  const kD = `${arch}.embedding_length`;
  const whyQ = why(kD, `${arch}.attention.head_count`);
  const whyKv = why(kD, `${arch}.attention.head_count_kv`);
  const whyMlp = why(kD, `${arch}.feed_forward_length`);
  const whyVocab = g.metadata.has('tokenizer.ggml.tokens') ? `GGUF tokenizer.ggml.tokens (${vocabSize} tokens), ${kD}=${d}` : why(kD);
  const rope = (j: number): number => interleavedSource(j, dHead);

  const embed = expectTensor(src, 'token_embd.weight', [vocabSize, d], whyVocab);
  const layers: LayerWeights[] = [];
  for (let l = 0; l < cfg0.nLayers; l++) {
    const p = `blk.${l}.`;
    const get = (name: string, shape: number[], reason: string): Float32Array => expectTensor(src, p + name, shape, reason);
    const opt = (name: string, shape: number[], reason: string): Float32Array | undefined => optionalTensor(src, p + name, shape, reason);
    const bq = opt('attn_q.bias', [nHeads * dHead], whyQ);
    const bk = opt('attn_k.bias', [nKvHeads * dHead], whyKv);
    const bv = opt('attn_v.bias', [nKvHeads * dHead], whyKv);
    const bo = opt('attn_output.bias', [d], why(kD));
    layers.push({
      ln1: { weight: tensor([d], get('attn_norm.weight', [d], why(kD))) },
      wq: tensor([nHeads, d, dHead], linearRowsToHeads(get('attn_q.weight', [nHeads * dHead, d], whyQ), nHeads, dHead, d, rope)),
      wk: tensor([nKvHeads, d, dHead], linearRowsToHeads(get('attn_k.weight', [nKvHeads * dHead, d], whyKv), nKvHeads, dHead, d, rope)),
      wv: tensor([nKvHeads, d, dHead], linearRowsToHeads(get('attn_v.weight', [nKvHeads * dHead, d], whyKv), nKvHeads, dHead, d)),
      ...(bq && { bq: tensor([nHeads, dHead], permuteHeadBias(bq, nHeads, dHead, rope)) }),
      ...(bk && { bk: tensor([nKvHeads, dHead], permuteHeadBias(bk, nKvHeads, dHead, rope)) }),
      ...(bv && { bv: tensor([nKvHeads, dHead], bv) }),
      wo: tensor([nHeads, dHead, d], transpose(get('attn_output.weight', [d, nHeads * dHead], whyQ), d, nHeads * dHead)),
      ...(bo && { bo: tensor([d], bo) }),
      ln2: { weight: tensor([d], get('ffn_norm.weight', [d], why(kD))) },
      wIn: tensor([d, dMlp], transpose(get('ffn_up.weight', [dMlp, d], whyMlp), dMlp, d)),
      wGate: tensor([d, dMlp], transpose(get('ffn_gate.weight', [dMlp, d], whyMlp), dMlp, d)),
      wOut: tensor([dMlp, d], transpose(get('ffn_down.weight', [d, dMlp], whyMlp), d, dMlp)),
    });
  }
  const lnFinal = { weight: tensor([d], expectTensor(src, 'output_norm.weight', [d], why(kD))) };
  // Tied models either omit `output` or (stories260K) store a copy of token_embd.
  const head = optionalTensor(src, 'output.weight', [vocabSize, d], whyVocab);
  const tied = head === undefined || sameBits(head, embed);
  return {
    config: { ...cfg0, tiedEmbeddings: tied },
    weights: { embed: tensor([vocabSize, d], embed), layers, lnFinal, unembed: tensor([d, vocabSize], transpose(head ?? embed, vocabSize, d)) },
    source: { path, format: 'gguf' },
  };
}

/** The model config from GGUF metadata (keys are prefixed by the architecture name). */
export function ggufLlamaConfig(g: GgufFile, arch: string): ModelConfig {
  const k = (key: string): string => `${arch}.${key}`;
  const dModel = ggufNumber(g, k('embedding_length'));
  const nHeads = ggufNumber(g, k('attention.head_count'));
  const nKvHeads = ggufNumber(g, k('attention.head_count_kv'), nHeads);
  const dHead = ggufNumber(g, k('attention.key_length'), dModel / nHeads);
  if (!Number.isInteger(dHead) || dHead % 2 !== 0) {
    throw new UserError(`${g.path}: head size ${dHead} (${k('embedding_length')}=${dModel} / ${k('attention.head_count')}=${nHeads}) must be an even integer`);
  }
  if (nHeads % nKvHeads !== 0) {
    throw new UserError(`${g.path}: ${k('attention.head_count')}=${nHeads} is not a multiple of ${k('attention.head_count_kv')}=${nKvHeads}`);
  }
  const nRot = ggufNumber(g, k('rope.dimension_count'), dHead);
  if (nRot !== dHead) throw new UserError(`${g.path}: ${k('rope.dimension_count')}=${nRot} (partial rotary) is not supported; expected the head size ${dHead}`);
  const scaling = g.metadata.get(k('rope.scaling.type'));
  if (scaling !== undefined && scaling !== 'none') throw new UserError(`${g.path}: ${k('rope.scaling.type')}=${String(scaling)} is not supported`);

  const tokens = g.metadata.get('tokenizer.ggml.tokens');
  const embd = g.tensorInfo('token_embd.weight');
  const vocabSize = Array.isArray(tokens) ? tokens.length : ggufNumber(g, k('vocab_size'), embd?.shape[0] ?? 0);
  if (!vocabSize) throw new UserError(`${g.path}: cannot tell the vocabulary size (no tokenizer.ggml.tokens, ${k('vocab_size')} or token_embd.weight)`);
  const optId = (key: string): number | undefined => {
    const v = g.metadata.get(key);
    return typeof v === 'number' && v >= 0 && v < vocabSize ? v : undefined;
  };
  return {
    architecture: 'llama',
    name: basename(g.path).replace(/\.gguf$/i, ''),
    dModel,
    nLayers: ggufNumber(g, k('block_count')),
    nHeads,
    nKvHeads,
    dHead,
    dMlp: ggufNumber(g, k('feed_forward_length')),
    vocabSize,
    maxPositions: ggufNumber(g, k('context_length'), 2048),
    norm: 'rmsnorm',
    normEps: ggufNumber(g, k('attention.layer_norm_rms_epsilon'), 1e-5),
    mlp: 'swiglu',
    positional: 'rope',
    ropeTheta: ggufNumber(g, k('rope.freq_base'), 10000),
    tiedEmbeddings: !g.tensorInfo('output.weight'),
    bosTokenId: optId('tokenizer.ggml.bos_token_id'),
    eosTokenId: optId('tokenizer.ggml.eos_token_id'),
  };
}

function ggufSource(g: GgufFile): TensorSource {
  return {
    fileOf: () => g.path,
    shapeOf: (name) => g.tensorInfo(name)?.shape,
    read: (name) => g.readTensor(name),
    shapeNote: (name) => `(GGUF dims [${g.tensorInfo(name)?.dims.join(', ') ?? ''}], innermost first)`,
  };
}
