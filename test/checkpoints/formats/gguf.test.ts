import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError } from '../../../src/core/errors.js';
import { f32ToF16Bits } from '../../../src/checkpoints/formats/float16.js';
import { ggmlTypeName, readGguf, readGgufMetadata, writeGguf, type GgufTyped, type GgufValue } from '../../../src/checkpoints/formats/gguf.js';
import { describeShared, stories260kPath } from '../../support/shared.js';

const dir = mkdtempSync(join(tmpdir(), 'patchwise-gguf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function expectUserError(f: () => unknown, ...parts: string[]): void {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(UserError);
  for (const p of parts) expect((err as Error).message).toContain(p);
}

describeShared('GGUF: stories260K', () => {
  it('reads the header: version, alignment, metadata of every kind used, tensor infos', () => {
    const h = readGgufMetadata(stories260kPath);
    expect(h.version).toBe(3);
    expect(h.alignment).toBe(32);
    expect(h.dataOffset % 32).toBe(0);
    expect(h.metadata.get('general.architecture')).toBe('llama');
    expect(h.metadata.get('llama.embedding_length')).toBe(64);
    expect(h.metadata.get('llama.block_count')).toBe(5);
    expect(h.metadata.get('llama.attention.head_count')).toBe(8);
    expect(h.metadata.get('llama.attention.head_count_kv')).toBe(4);
    expect(h.metadata.get('llama.feed_forward_length')).toBe(172);
    expect(h.metadata.get('llama.attention.layer_norm_rms_epsilon')).toBe(1e-5);
    expect(h.metadataTypes.get('llama.attention.layer_norm_rms_epsilon')).toBe('float32');
    expect(h.metadata.get('tokenizer.ggml.bos_token_id')).toBe(1);
    expect(h.metadata.get('tokenizer.ggml.eos_token_id')).toBe(2);
    const tokens = h.metadata.get('tokenizer.ggml.tokens') as string[];
    expect(tokens).toHaveLength(512);
    expect(tokens.slice(0, 4)).toEqual(['<unk>', '<s>', '</s>', '<0x00>']);
    expect((h.metadata.get('tokenizer.ggml.scores') as number[]).length).toBe(512);
    expect((h.metadata.get('tokenizer.ggml.token_type') as number[]).slice(0, 4)).toEqual([2, 3, 3, 6]);
    expect(h.tensors).toHaveLength(3 + 5 * 9);
    const q = h.tensors.find((t) => t.name === 'blk.0.attn_k.weight')!;
    expect(q.dims).toEqual([64, 32]);
    expect(q.shape).toEqual([32, 64]);
    expect(ggmlTypeName(q.type)).toBe('F32');
  });

  it('reads tensors; output.weight is a copy of token_embd.weight', () => {
    const g = readGguf(stories260kPath);
    const out = g.readTensor('output.weight');
    const emb = g.readTensor('token_embd.weight');
    expect(out.length).toBe(512 * 64);
    expect(Buffer.compare(Buffer.from(out.buffer), Buffer.from(emb.buffer))).toBe(0);
    expect(g.readTensor('blk.4.ffn_norm.weight').length).toBe(64);
  });

  it('a truncated copy is a UserError naming file, tensor, expected and found sizes', () => {
    const path = join(dir, 'stories-trunc.gguf');
    writeFileSync(path, readFileSync(stories260kPath));
    truncateSync(path, 1185376 - 100);
    expectUserError(() => readGguf(path), path, 'tensor blk.4.ffn_norm.weight', '1185376', '1185276 bytes');
    truncateSync(path, 5000); // inside the metadata
    expectUserError(() => readGgufMetadata(path), path, 'truncated GGUF header', 'tokenizer.ggml', 'found');
  });
});

describe('GGUF writer and reader', () => {
  const meta = new Map<string, GgufValue | GgufTyped>([
    ['general.architecture', 'llama'],
    ['u32', 7],
    ['i32', -7],
    ['f32', 0.1],
    ['f64', { type: 'float64', value: 0.1 }],
    ['i8', { type: 'int8', value: -3 }],
    ['u64 small', { type: 'uint64', value: 12345 }],
    ['u64 big', 2n ** 63n + 5n],
    ['i64 big', -(2n ** 60n)],
    ['flag', true],
    ['words', ['a', 'bé', '']],
    ['nested', [[1, 2], [3], []]],
    ['floats', [0, 0.5, -1.5]],
    ['int8s', { type: 'array', elementType: 'int8', value: [-1, 2] }],
  ]);

  it('round-trips metadata of all value types, nested arrays included', () => {
    const path = join(dir, 'meta.gguf');
    writeGguf(path, meta, []);
    const h = readGgufMetadata(path);
    expect(h.version).toBe(3);
    expect(Object.fromEntries(h.metadata)).toEqual({
      'general.architecture': 'llama',
      u32: 7,
      i32: -7,
      f32: 0.1,
      f64: 0.1,
      i8: -3,
      'u64 small': 12345,
      'u64 big': 2n ** 63n + 5n,
      'i64 big': -(2n ** 60n),
      flag: true,
      words: ['a', 'bé', ''],
      nested: [[1, 2], [3], []],
      floats: [0, 0.5, -1.5],
      int8s: [-1, 2],
    });
    expect(h.metadataTypes.get('u64 small')).toBe('uint64');
    expect(h.tensors).toEqual([]);
  });

  it('decodes F16 tensors, keeps row-major shapes, honours a custom alignment', () => {
    const path = join(dir, 'f16.gguf');
    const x = Float32Array.from({ length: 15 }, (_, i) => (i - 7) / 3);
    const y = Float32Array.from({ length: 4 }, (_, i) => i * 1e-3);
    writeGguf(
      path,
      new Map([['general.architecture', 'llama']]),
      [
        { name: 'half', shape: [3, 5], type: 'F16', data: x },
        { name: 'single', shape: [4], data: y },
      ],
      64,
    );
    const g = readGguf(path);
    expect(g.alignment).toBe(64);
    expect(g.tensorInfo('half')).toMatchObject({ dims: [5, 3], shape: [3, 5], type: 1, byteLength: 30 });
    expect(g.tensorInfo('single')!.byteOffset % 64).toBe(0);
    const h = g.readTensor('half');
    for (let i = 0; i < x.length; i++) {
      const bits = f32ToF16Bits(x[i]!);
      expect(f32ToF16Bits(h[i]!)).toBe(bits);
      expect(Math.abs(h[i]! - x[i]!)).toBeLessThan(2e-3);
    }
    expect([...g.readTensor('single')]).toEqual([...y]);
  });

  it('a quantised tensor is a UserError naming the tensor and its type', () => {
    const path = join(dir, 'q8.gguf');
    writeGguf(path, new Map(), [{ name: 'blk.0.attn_q.weight', shape: [1, 32], ggmlType: 8, raw: new Uint8Array(34) }]);
    const g = readGguf(path);
    expect(g.tensorInfo('blk.0.attn_q.weight')?.byteLength).toBeUndefined();
    expectUserError(() => g.readTensor('blk.0.attn_q.weight'), path, 'blk.0.attn_q.weight', 'Q8_0');
    expect(ggmlTypeName(12)).toBe('Q4_K');
    expect(ggmlTypeName(30)).toBe('BF16');
  });

  it('bad magic, unsupported versions and tensor data past the end are UserErrors', () => {
    const bad = join(dir, 'bad.gguf');
    writeFileSync(bad, Buffer.from('GGML\x03\x00\x00\x00'));
    expectUserError(() => readGgufMetadata(bad), bad, 'expected magic "GGUF"', 'found "GGML"');

    const v1 = join(dir, 'v1.gguf');
    writeFileSync(v1, Buffer.from('GGUF\x01\x00\x00\x00'));
    expectUserError(() => readGgufMetadata(v1), v1, 'version 1');

    const path = join(dir, 'short.gguf');
    writeGguf(path, new Map(), [{ name: 'w', shape: [16], data: new Float32Array(16) }]);
    truncateSync(path, readFileSync(path).length - 8);
    expectUserError(() => readGguf(path), path, 'tensor w', 'file truncated');
  });
});
