// One entry point for every model format: a .gguf file, or a Hugging Face directory (config.json
// + safetensors) dispatched on its model_type.
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { UserError } from '../core/errors.js';
import { readHfConfig } from './hf-checkpoint.js';
import { loadGguf } from './load-gguf.js';
import { loadGpt2Hf } from './load-gpt2-hf.js';
import { loadLlamaHf } from './load-llama-hf.js';
import type { LoadedModel } from '../model/types.js';

const HF_LOADERS: Readonly<Record<string, (dir: string) => LoadedModel>> = {
  gpt2: loadGpt2Hf,
  llama: loadLlamaHf,
};

export const SUPPORTED_HF_MODEL_TYPES: readonly string[] = Object.keys(HF_LOADERS);

/**
 * Loads a model into the internal representation: `path` is a .gguf file, a Hugging Face model
 * directory, or a .safetensors file inside one.
 */
export async function loadModel(path: string): Promise<LoadedModel> {
  if (!existsSync(path)) throw new UserError(`${path}: no such file or directory`);
  const st = statSync(path);
  if (st.isFile()) {
    if (/\.gguf$/i.test(path)) return loadGguf(path);
    if (/\.safetensors$/i.test(path) && basename(path).startsWith('model')) return loadHfDir(dirname(path));
    throw new UserError(`${path}: not a model: expected a .gguf file or a directory with config.json and model.safetensors`);
  }
  if (!existsSync(join(path, 'config.json'))) {
    throw new UserError(`${path}: not a model directory: expected config.json and model.safetensors (or pass a .gguf file)`);
  }
  return loadHfDir(path);
}

function loadHfDir(dir: string): LoadedModel {
  const cfg = readHfConfig(dir);
  const type = cfg.model_type;
  const loader = typeof type === 'string' ? HF_LOADERS[type] : undefined;
  if (!loader) {
    throw new UserError(`${join(dir, 'config.json')}: model_type ${JSON.stringify(type ?? null)} is not supported (supported: ${SUPPORTED_HF_MODEL_TYPES.join(', ')})`);
  }
  return loader(dir);
}
