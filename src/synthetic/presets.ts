// Named model shapes for random initialisation: tiny ones for tests, and the GPT-2 family sizes so
// benchmarks can run at the real compute cost without the real weights.
import { UserError } from '../core/errors.js';
import type { ModelConfig } from '../model/types.js';

export type ModelPreset = ModelConfig & { readonly description: string };

const gpt2Shape = (name: string, dModel: number, nLayers: number, nHeads: number, description: string): ModelPreset => ({
  architecture: 'gpt2',
  name,
  description,
  dModel,
  nLayers,
  nHeads,
  nKvHeads: nHeads,
  dHead: dModel / nHeads,
  dMlp: 4 * dModel,
  vocabSize: 50257,
  maxPositions: 1024,
  norm: 'layernorm',
  normEps: 1e-5,
  mlp: 'gelu_new',
  positional: 'learned',
  ropeTheta: 10000,
  tiedEmbeddings: true,
  bosTokenId: 50256,
  eosTokenId: 50256,
});

export const PRESETS: Readonly<Record<string, ModelPreset>> = {
  tiny: {
    ...gpt2Shape('tiny', 64, 2, 4, 'GPT-2 architecture, d_model 64, 2 layers, 4 heads, GPT-2 vocabulary; for tests'),
    maxPositions: 128,
  },
  'gpt2-small': gpt2Shape('gpt2-small', 768, 12, 12, 'GPT-2 small shape (124M parameters)'),
  'gpt2-medium': gpt2Shape('gpt2-medium', 1024, 24, 16, 'GPT-2 medium shape (355M parameters)'),
  'gpt2-large': gpt2Shape('gpt2-large', 1280, 36, 20, 'GPT-2 large shape (774M parameters)'),
  'gpt2-xl': gpt2Shape('gpt2-xl', 1600, 48, 25, 'GPT-2 XL shape (1.5B parameters)'),
  'tiny-llama': {
    architecture: 'llama',
    name: 'tiny-llama',
    description: 'Llama architecture, d_model 64, 2 layers, 8 query / 4 key-value heads, vocabulary 512 (stories260K shape); for tests',
    dModel: 64,
    nLayers: 2,
    nHeads: 8,
    nKvHeads: 4,
    dHead: 8,
    dMlp: 172,
    vocabSize: 512,
    maxPositions: 512,
    norm: 'rmsnorm',
    normEps: 1e-5,
    mlp: 'swiglu',
    positional: 'rope',
    ropeTheta: 10000,
    // Untied, unlike stories260K, so that tests exercise a separate lm_head.
    tiedEmbeddings: false,
    bosTokenId: 1,
    eosTokenId: 2,
  },
};

export function presetNames(): string[] {
  return Object.keys(PRESETS);
}

export function getPreset(name: string): ModelPreset {
  const p = PRESETS[name];
  if (!p) throw new UserError(`unknown model preset ${JSON.stringify(name)} (presets: ${presetNames().join(', ')})`);
  return p;
}

/** The preset as a plain ModelConfig (no description). */
export function presetConfig(p: ModelPreset): ModelConfig {
  const { description: _description, ...config } = p;
  return config;
}
