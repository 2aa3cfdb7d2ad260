import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError } from '../../../src/core/errors.js';
import { f16ToF32, f32ToBf16Bits, f32ToF16Bits } from '../../../src/checkpoints/formats/float16.js';
import { openSafetensors, readSafetensors, writeSafetensors } from '../../../src/checkpoints/formats/safetensors.js';

const dir = mkdtempSync(join(tmpdir(), 'patchwise-st-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A safetensors file assembled byte by byte, independent of writeSafetensors. */
function rawFile(path: string, header: object, data: Uint8Array): void {
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(path, Buffer.concat([len, json, data]));
}

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

describe('safetensors', () => {
  it('round-trips F32 tensors bit-exactly, with metadata and an 8-byte aligned header', () => {
    const path = join(dir, 'rt.safetensors');
    const a = Float32Array.from([1, -2.5, 3e-8, Infinity, -0, 1 / 3]);
    const b = Float32Array.from({ length: 7 }, (_, i) => Math.sin(i));
    writeSafetensors(
      path,
      new Map([
        ['a', { shape: [2, 3], data: a }],
        ['b.weight', { shape: [7], data: b }],
      ]),
      { format: 'pt' },
    );
    const bytes = readFileSync(path);
    expect(Number(bytes.readBigUInt64LE(0)) % 8).toBe(0);
    const f = openSafetensors(path);
    expect(f.metadata).toEqual({ format: 'pt' });
    expect([...f.tensors.keys()]).toEqual(['a', 'b.weight']);
    expect(f.tensors.get('a')?.shape).toEqual([2, 3]);
    expect(f.tensors.get('a')!.byteOffset % 4).toBe(0);
    expect(Buffer.from(f.read('a').buffer)).toEqual(Buffer.from(a.buffer));
    const all = readSafetensors(path);
    expect(Buffer.from(all.get('b.weight')!.data.buffer)).toEqual(Buffer.from(b.buffer));
  });

  it('decodes F16 and BF16, including subnormals, infinities and rounding', () => {
    const path = join(dir, 'half.safetensors');
    // Hand-encoded F16: 1, -2, 65504 (max), 2^-24 (smallest subnormal), inf, 0.333251953125
    const f16 = Uint16Array.from([0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0x3555]);
    // BF16: 1, -2, 3.140625, tiny
    const bf16 = Uint16Array.from([0x3f80, 0xc000, 0x4049, 0x0001]);
    const data = new Uint8Array(f16.byteLength + bf16.byteLength);
    data.set(new Uint8Array(f16.buffer), 0);
    data.set(new Uint8Array(bf16.buffer), f16.byteLength);
    rawFile(
      path,
      {
        h: { dtype: 'F16', shape: [6], data_offsets: [0, 12] },
        g: { dtype: 'BF16', shape: [2, 2], data_offsets: [12, 20] },
      },
      data,
    );
    const f = openSafetensors(path);
    expect([...f.read('h')]).toEqual([1, -2, 65504, 2 ** -24, Infinity, 0.333251953125]);
    expect([...f.read('g')]).toEqual([1, -2, 3.140625, new Float32Array(new Uint32Array([0x00010000]).buffer)[0]]);
  });

  it('writes F16 and BF16 with round-to-nearest-even', () => {
    expect(f32ToF16Bits(1)).toBe(0x3c00);
    expect(f32ToF16Bits(65520)).toBe(0x7c00); // rounds up to infinity
    expect(f32ToF16Bits(2 ** -25)).toBe(0); // tie to even: zero
    expect(f32ToF16Bits(1.5 * 2 ** -25)).toBe(1);
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie to even
    expect(f32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(f32ToBf16Bits(1 + 2 ** -8)).toBe(0x3f80);
    expect(f32ToBf16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82);
    // Every finite half survives half -> float -> half.
    const all = new Uint16Array(65536).map((_, i) => i);
    const back = f16ToF32(all);
    let mismatches = 0;
    for (let i = 0; i < 65536; i++) if (!Number.isNaN(back[i]) && f32ToF16Bits(back[i]!) !== i) mismatches++;
    expect(mismatches).toBe(0);

    const path = join(dir, 'w16.safetensors');
    const x = Float32Array.from([0.1, -7.25, 1000.5, 3e-6]);
    writeSafetensors(
      path,
      new Map([
        ['h', { shape: [4], data: x, dtype: 'F16' as const }],
        ['b', { shape: [4], data: x, dtype: 'BF16' as const }],
      ]),
    );
    const f = openSafetensors(path);
    expect(f.tensors.get('h')?.dtype).toBe('F16');
    const h = f.read('h');
    const b = f.read('b');
    for (let i = 0; i < 4; i++) {
      expect(Math.abs(h[i]! - x[i]!)).toBeLessThanOrEqual(Math.abs(x[i]!) * 2 ** -11 + 2 ** -25);
      expect(Math.abs(b[i]! - x[i]!)).toBeLessThanOrEqual(Math.abs(x[i]!) * 2 ** -8);
    }
  });

  it('a truncated file is a UserError naming the file, the tensor and the sizes', () => {
    const path = join(dir, 'trunc.safetensors');
    writeSafetensors(
      path,
      new Map([
        ['first', { shape: [4], data: new Float32Array(4) }],
        ['second', { shape: [8], data: new Float32Array(8) }],
      ]),
    );
    truncateSync(path, readFileSync(path).length - 5);
    expectUserError(() => openSafetensors(path), path, 'tensor second', 'data ends at byte 48', 'only 43');
  });

  it('corrupt headers are UserErrors that say what was expected and found', () => {
    const p1 = join(dir, 'size.safetensors');
    rawFile(p1, { w: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 20] } }, new Uint8Array(20));
    expectUserError(() => openSafetensors(p1), p1, 'tensor w', 'expected 24 bytes', 'found 20');

    const p2 = join(dir, 'len.safetensors');
    const buf = Buffer.alloc(16);
    buf.writeBigUInt64LE(1000n);
    writeFileSync(p2, buf);
    expectUserError(() => openSafetensors(p2), p2, 'header length 1000');

    const p3 = join(dir, 'json.safetensors');
    const j = Buffer.from('{"w": ');
    const l = Buffer.alloc(8);
    l.writeBigUInt64LE(BigInt(j.length));
    writeFileSync(p3, Buffer.concat([l, j]));
    expectUserError(() => openSafetensors(p3), p3, 'not valid JSON');

    const p4 = join(dir, 'overlap.safetensors');
    rawFile(
      p4,
      {
        a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
        b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
      },
      new Uint8Array(12),
    );
    expectUserError(() => openSafetensors(p4), p4, 'tensor b', 'expected 8');

    const p5 = join(dir, 'dtype.safetensors');
    rawFile(p5, { ids: { dtype: 'I64', shape: [2], data_offsets: [0, 16] } }, new Uint8Array(16));
    const f = openSafetensors(p5);
    expectUserError(() => f.read('ids'), p5, 'tensor ids', 'I64');
    expectUserError(() => f.read('nope'), p5, 'tensor nope not found');

    expectUserError(() => openSafetensors(join(dir, 'missing.safetensors')), 'missing.safetensors', 'cannot open');
  });
});
