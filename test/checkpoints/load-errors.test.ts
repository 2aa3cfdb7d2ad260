// Every way a checkpoint can disagree with its config is a UserError that names the file and the
// tensor and says what was expected (and from which field) and what was found.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError } from '../../src/core/errors.js';
import { readGguf, writeGguf, type GgufTyped } from '../../src/checkpoints/formats/gguf.js';
import { readSafetensors, writeSafetensors } from '../../src/checkpoints/formats/safetensors.js';
import { initModel, writeGpt2Hf, writeLlamaHf } from '../../src/synthetic/init.js';
import { loadModel } from '../../src/checkpoints/load.js';
import { describeShared, stories260kPath } from '../support/shared.js';

const dir = mkdtempSync(join(tmpdir(), 'patchwise-le-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function loadError(path: string): Promise<string> {
  const err = await loadModel(path).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UserError);
  return (err as Error).message;
}

function editConfig(d: string, edit: (c: Record<string, unknown>) => void): void {
  const p = join(d, 'config.json');
  const c = JSON.parse(readFileSync(p, 'utf8')) as Record<string, unknown>;
  edit(c);
  writeFileSync(p, JSON.stringify(c));
}

describe('load errors', () => {
  it('a shape that disagrees with config.json names file, tensor, expected shape and field, found shape', async () => {
    const d = join(dir, 'gpt2-inner');
    writeGpt2Hf(initModel('tiny', 1), d);
    editConfig(d, (c) => (c.n_inner = 300));
    expect(await loadError(d)).toBe(`${join(d, 'model.safetensors')}: tensor h.0.mlp.c_fc.weight: expected shape [64, 300] (from config.json n_embd=64, n_inner=300), found [64, 256]`);
  });

  it('a vocabulary mismatch names vocab_size', async () => {
    const d = join(dir, 'llama-vocab');
    writeLlamaHf(initModel('tiny-llama', 1), d);
    editConfig(d, (c) => (c.vocab_size = 500));
    expect(await loadError(d)).toBe(`${join(d, 'model.safetensors')}: tensor model.embed_tokens.weight: expected shape [500, 64] (from config.json vocab_size=500, hidden_size=64), found [512, 64]`);
  });

  it('a missing tensor names the file and the tensor', async () => {
    const d = join(dir, 'gpt2-missing');
    writeGpt2Hf(initModel('tiny', 1), d);
    const st = join(d, 'model.safetensors');
    const t = readSafetensors(st);
    t.delete('ln_f.bias');
    writeSafetensors(st, t);
    expect(await loadError(d)).toBe(`${st}: tensor ln_f.bias is missing (expected shape [64] from config.json n_embd=64)`);
  });

  it('an untied Llama without lm_head.weight is an error', async () => {
    const d = join(dir, 'llama-nohead');
    writeLlamaHf(initModel('tiny-llama', 1), d);
    const st = join(d, 'model.safetensors');
    const t = readSafetensors(st);
    t.delete('lm_head.weight');
    writeSafetensors(st, t);
    expect(await loadError(d)).toContain('tensor lm_head.weight is missing');
  });

  it('unsupported model types, missing files and bad config fields', async () => {
    const d = join(dir, 'mistral');
    mkdirSync(d);
    writeFileSync(join(d, 'config.json'), JSON.stringify({ model_type: 'mistral' }));
    expect(await loadError(d)).toBe(`${join(d, 'config.json')}: model_type "mistral" is not supported (supported: gpt2, llama)`);

    const e = join(dir, 'empty');
    mkdirSync(e);
    expect(await loadError(e)).toContain('expected config.json');
    expect(await loadError(join(dir, 'nope'))).toContain('no such file or directory');

    const g = join(dir, 'gpt2-nofile');
    mkdirSync(g);
    writeFileSync(join(g, 'config.json'), JSON.stringify({ model_type: 'gpt2', n_embd: 64, n_layer: 1, n_head: 4, vocab_size: 10 }));
    expect(await loadError(g)).toContain('no model.safetensors or model.safetensors.index.json');

    const h = join(dir, 'gpt2-badfield');
    mkdirSync(h);
    writeFileSync(join(h, 'config.json'), JSON.stringify({ model_type: 'gpt2', n_embd: '64', n_layer: 1, n_head: 4, vocab_size: 10 }));
    expect(await loadError(h)).toBe(`${join(h, 'config.json')}: n_embd must be a positive integer, found "64"`);

    const r = join(dir, 'llama-scaling');
    writeLlamaHf(initModel('tiny-llama', 1), r);
    editConfig(r, (c) => (c.rope_scaling = { rope_type: 'llama3', factor: 8 }));
    expect(await loadError(r)).toContain('rope_scaling');
  });
});

describeShared('GGUF load errors', () => {
  function rewrite(path: string, edit: (meta: Map<string, GgufTyped>) => void): void {
    const g = readGguf(stories260kPath);
    const meta = new Map<string, GgufTyped>();
    for (const [k, v] of g.metadata) {
      meta.set(k, { type: g.metadataTypes.get(k)!, value: v, ...(k === 'tokenizer.ggml.scores' && { elementType: 'float32' as const }) });
    }
    edit(meta);
    writeGguf(
      path,
      meta,
      g.tensors.map((t) => ({ name: t.name, shape: t.shape, data: g.readTensor(t.name) })),
    );
  }

  it('a shape that disagrees with the metadata names the key and the GGUF dims', async () => {
    const p = join(dir, 'ffn.gguf');
    rewrite(p, (m) => m.set('llama.feed_forward_length', { type: 'uint32', value: 170 }));
    expect(await loadError(p)).toBe(
      `${p}: tensor blk.0.ffn_up.weight: expected shape [170, 64] (from GGUF llama.embedding_length=64, llama.feed_forward_length=170), ` + 'found [172, 64] (GGUF dims [64, 172], innermost first)',
    );
  });

  it('an unsupported architecture is named', async () => {
    const p = join(dir, 'arch.gguf');
    rewrite(p, (m) => m.set('general.architecture', { type: 'string', value: 'falcon' }));
    expect(await loadError(p)).toBe(`${p}: GGUF architecture falcon is not supported (supported: llama)`);
  });
});
