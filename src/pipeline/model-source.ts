// Where a pipeline's model comes from (a path, a planted model, a random preset) and the content
// fingerprint that identifies it in the store.
import type { GroundTruth } from '../core/vocabulary.js';
import { createHash } from 'node:crypto';
import { loadModel } from '../checkpoints/load.js';
import { initModel } from '../synthetic/init.js';
import { plantInductionModel } from '../synthetic/planted.js';
import type { LoadedModel, ModelWeights } from '../model/types.js';
import { loadTokenizer } from '../tokenizer/load.js';
import type { Tokenizer } from '../tokenizer/types.js';
import type { ModelSpec } from './spec.js';

export interface PipelineModel {
  readonly model: LoadedModel;
  readonly tokenizer?: Tokenizer;
  /** A model without a tokenizer: its config's bos_token_id, which token-id prompts start with. */
  readonly bosId?: number;
  readonly fingerprint: string;
  /** The circuit of a planted model, for ROC and reports. */
  readonly groundTruth?: GroundTruth;
}

/** sha256 over the config and every weight tensor: equal fingerprints mean identical models. */
export function fingerprintModel(model: LoadedModel): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ ...model.config, name: undefined }));
  const w: ModelWeights = model.weights;
  const tensors = [w.embed, w.posEmbed, w.lnFinal.weight, w.lnFinal.bias, w.unembed, w.unembedBias];
  for (const l of w.layers) {
    tensors.push(l.ln1.weight, l.ln1.bias, l.wq, l.bq, l.wk, l.bk, l.wv, l.bv, l.wo, l.bo, l.ln2.weight, l.ln2.bias, l.wIn, l.bIn, l.wGate, l.wOut, l.bOut);
  }
  for (const t of tensors) {
    if (t) h.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    else h.update('-');
  }
  return h.digest('hex');
}

export async function loadPipelineModel(spec: ModelSpec): Promise<PipelineModel> {
  if ('path' in spec) {
    const model = await loadModel(spec.path);
    const tokenizer = await loadTokenizer(spec.path);
    const bosId = tokenizer === undefined ? model.config.bosTokenId : undefined;
    return { model, ...(tokenizer === undefined ? {} : { tokenizer }), ...(bosId === undefined ? {} : { bosId }), fingerprint: fingerprintModel(model) };
  }
  if ('plant' in spec) {
    const { model, groundTruth } = plantInductionModel({ seed: spec.seed });
    return { model, fingerprint: fingerprintModel(model), groundTruth };
  }
  const model = initModel(spec.init, spec.seed);
  return { model, fingerprint: fingerprintModel(model) };
}
