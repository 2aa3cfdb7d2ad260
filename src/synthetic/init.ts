// Seeded random initialisation of any preset. Random models have the compute cost of the real ones,
// so they serve benchmarks and round-trip tests; the weights follow GPT-2's init (std 0.02), but
// norm weights are 1 + N(0, 0.1) and biases N(0, 0.02) rather than 1 and 0 so that tests notice a
// dropped or misplaced norm weight or bias.
import { Random } from '../core/random.js';
import { getPreset, presetConfig, type ModelPreset } from './presets.js';
import { transpose } from '../checkpoints/layout.js';
import { tensor, type LayerWeights, type LoadedModel, type NormWeights, type Tensor } from '../model/types.js';

export { writeGpt2Hf, writeLlamaHf } from '../checkpoints/write-hf.js';

/** A LoadedModel with seeded random weights; the same preset and seed give the same bits. */
export function initModel(preset: string | ModelPreset, seed: number): LoadedModel {
  const p = typeof preset === 'string' ? getPreset(preset) : preset;
  const config = presetConfig(p);
  const rng = new Random(seed);
  const normal = (shape: number[], std: number, mean = 0): Tensor => {
    const t = tensor(shape);
    rng.fillNormal(t.data, std, mean);
    return t;
  };
  const { dModel: d, nHeads, nKvHeads, dHead, dMlp, vocabSize } = config;
  const gpt2 = config.architecture === 'gpt2';
  const norm = (): NormWeights => (gpt2 ? { weight: normal([d], 0.1, 1), bias: normal([d], 0.02) } : { weight: normal([d], 0.1, 1) });

  const embed = normal([vocabSize, d], 0.02);
  const posEmbed = gpt2 ? normal([config.maxPositions, d], 0.01) : undefined;
  const layers: LayerWeights[] = [];
  for (let l = 0; l < config.nLayers; l++) {
    const ln1 = norm();
    const wq = normal([nHeads, d, dHead], 0.02);
    const wk = normal([nKvHeads, d, dHead], 0.02);
    const wv = normal([nKvHeads, d, dHead], 0.02);
    const wo = normal([nHeads, dHead, d], 0.02);
    const ln2 = norm();
    const wIn = normal([d, dMlp], 0.02);
    const wOut = normal([dMlp, d], 0.02);
    layers.push(
      gpt2
        ? {
            ln1,
            wq,
            wk,
            wv,
            wo,
            ln2,
            wIn,
            wOut,
            bq: normal([nHeads, dHead], 0.02),
            bk: normal([nKvHeads, dHead], 0.02),
            bv: normal([nKvHeads, dHead], 0.02),
            bo: normal([d], 0.02),
            bIn: normal([dMlp], 0.02),
            bOut: normal([d], 0.02),
          }
        : { ln1, wq, wk, wv, wo, ln2, wIn, wOut, wGate: normal([d, dMlp], 0.02) },
    );
  }
  const lnFinal = norm();
  const unembed = config.tiedEmbeddings ? tensor([d, vocabSize], transpose(embed.data, vocabSize, d)) : normal([d, vocabSize], 0.02);
  return {
    config,
    weights: { embed, ...(posEmbed && { posEmbed }), layers, lnFinal, unembed },
    // Not read from a file: the path records preset and seed; the format is what the writers emit.
    source: { path: `init:${config.name}?seed=${seed}`, format: 'hf-safetensors' },
  };
}
