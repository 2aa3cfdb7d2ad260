// The GPT-2 path end to end: a random tiny GPT-2 written in the Hugging Face layout, loaded by the
// product's loader and run on onnxruntime, against a separate float64 forward that reads the HF
// tensors by their own names (Conv1D layout) and shares no code with the loader.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSafetensors } from '../../src/checkpoints/formats/safetensors.js';
import { initModel, writeGpt2Hf } from '../../src/synthetic/init.js';
import { loadModel } from '../../src/checkpoints/load.js';
import { PatchableModel } from '../../src/runtime/patchable-model.js';
import { hfGpt2Forward } from '../reference/hf-gpt2-forward.js';
import { maxAbsDiff, randomTokens } from '../reference/random-model.js';

describe('GPT-2 from a Hugging Face checkpoint', () => {
  const dir = mkdtempSync(join(tmpdir(), 'patchwise-gpt2-'));
  let pm: PatchableModel;
  beforeAll(async () => {
    writeGpt2Hf(initModel('tiny', 3), dir);
    pm = new PatchableModel(await loadModel(dir));
  });
  afterAll(async () => {
    await pm.release();
    rmSync(dir, { recursive: true, force: true });
  });

  it('logits at every position match the independent HF-layout forward within 1e-4', async () => {
    const tensors = readSafetensors(join(dir, 'model.safetensors'));
    const cfg = pm.config;
    const prompts = [randomTokens(12, cfg.vocabSize, 1), randomTokens(12, cfg.vocabSize, 2)];
    const { logits } = await pm.run({ tokens: prompts }, 'all');
    const plain = await pm.plainForward({ tokens: prompts }, 'all');
    const n = 12 * cfg.vocabSize;
    prompts.forEach((p, b) => {
      const ref = hfGpt2Forward(tensors, { nLayers: cfg.nLayers, nHeads: cfg.nHeads, dModel: cfg.dModel, eps: cfg.normEps }, p);
      expect(maxAbsDiff(logits.subarray(b * n, (b + 1) * n), ref.logits)).toBeLessThan(1e-4);
      expect(maxAbsDiff(plain.subarray(b * n, (b + 1) * n), ref.logits)).toBeLessThan(1e-4);
    });
  });
});
