// The safetensors format: an 8-byte little-endian header length N, N bytes of JSON mapping tensor
// names to {dtype, shape, data_offsets} (offsets relative to the data section), then the data.
// Reading is lazy: the header is parsed and validated up front, tensors are read on demand, so a
// loader holds one raw tensor at a time rather than the whole file.
import { closeSync, openSync } from 'node:fs';
import { UserError } from '../../core/errors.js';
import { readExactly, readFloat32, readUint16, withFile, writeAll } from './binary-file.js';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from './float16.js';

/** Bytes per element of every dtype the spec names; only F32, F16 and BF16 can be read as floats. */
const ITEM_SIZE: Readonly<Record<string, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
};

export type FloatDtype = 'F32' | 'F16' | 'BF16';

/** The safetensors reference implementation refuses headers above 100 MB; so do we. */
const MAX_HEADER = 100_000_000;

export interface SafetensorsTensorInfo {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  /** Absolute position of the first byte in the file. */
  readonly byteOffset: number;
  readonly byteLength: number;
}

export interface SafetensorsFile {
  readonly path: string;
  /** The optional `__metadata__` string map. */
  readonly metadata: Readonly<Record<string, string>>;
  /** In file order (by data offset). */
  readonly tensors: ReadonlyMap<string, SafetensorsTensorInfo>;
  /** Reads one tensor as float32 (F32, F16 and BF16); any other dtype is a UserError. */
  read(name: string): Float32Array;
}

export interface NamedTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** Parses and validates the header; tensor data stays on disk until `read`. */
export function openSafetensors(path: string): SafetensorsFile {
  const { metadata, tensors } = withFile(path, (fd, size) => parseHeader(fd, path, size));
  return {
    path,
    metadata,
    tensors,
    read(name: string): Float32Array {
      const info = tensors.get(name);
      if (!info) throw new UserError(`${path}: tensor ${name} not found`);
      return withFile(path, (fd) => readTensorData(fd, path, info));
    },
  };
}

/** Reads every float tensor of a file. */
export function readSafetensors(path: string): Map<string, NamedTensor> {
  const file = openSafetensors(path);
  const out = new Map<string, NamedTensor>();
  withFile(path, (fd) => {
    for (const info of file.tensors.values()) out.set(info.name, { shape: info.shape, data: readTensorData(fd, path, info) });
  });
  return out;
}

function parseHeader(fd: number, path: string, size: number): Pick<SafetensorsFile, 'metadata' | 'tensors'> {
  if (size < 8) throw new UserError(`${path}: not a safetensors file: expected at least 8 bytes, found ${size}`);
  const lenBytes = readExactly(fd, path, 0, new Uint8Array(8), 'header length');
  const headerLen = new DataView(lenBytes.buffer).getBigUint64(0, true);
  if (headerLen > BigInt(Math.min(size - 8, MAX_HEADER))) {
    throw new UserError(
      `${path}: not a valid safetensors file: header length ${headerLen} exceeds the ${size - 8} bytes after the length field` +
        (headerLen > BigInt(MAX_HEADER) ? ` (or the ${MAX_HEADER}-byte limit)` : ''),
    );
  }
  const n = Number(headerLen);
  const text = Buffer.from(readExactly(fd, path, 8, new Uint8Array(n), 'header')).toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${path}: safetensors header is not valid JSON (${(e as Error).message})`);
  }
  if (!isRecord(json)) throw new UserError(`${path}: safetensors header must be a JSON object`);

  const dataStart = 8 + n;
  const dataSize = size - dataStart;
  const metadata: Record<string, string> = {};
  const infos: SafetensorsTensorInfo[] = [];
  for (const [name, entry] of Object.entries(json)) {
    if (name === '__metadata__') {
      if (!isRecord(entry)) throw new UserError(`${path}: __metadata__ must be an object of strings`);
      for (const [k, v] of Object.entries(entry)) {
        if (typeof v !== 'string') throw new UserError(`${path}: __metadata__.${k} must be a string, found ${JSON.stringify(v)}`);
        metadata[k] = v;
      }
      continue;
    }
    infos.push(parseEntry(path, name, entry, dataStart, dataSize));
  }
  // The format forbids holes and overlaps: sorted by offset, each tensor starts where the last ended.
  infos.sort((a, b) => a.byteOffset - b.byteOffset);
  let expectedStart = dataStart;
  for (const t of infos) {
    if (t.byteOffset !== expectedStart) {
      throw new UserError(
        `${path}: tensor ${t.name}: data_offsets start at ${t.byteOffset - dataStart}, expected ${expectedStart - dataStart} ` + `(tensor data must be contiguous without overlaps or holes)`,
      );
    }
    expectedStart += t.byteLength;
  }
  const tensors = new Map<string, SafetensorsTensorInfo>();
  for (const t of infos) tensors.set(t.name, t);
  return { metadata, tensors };
}

function parseEntry(path: string, name: string, entry: unknown, dataStart: number, dataSize: number): SafetensorsTensorInfo {
  const where = `${path}: tensor ${name}`;
  if (!isRecord(entry)) throw new UserError(`${where}: header entry must be an object`);
  const { dtype, shape, data_offsets: offsets } = entry;
  if (typeof dtype !== 'string') throw new UserError(`${where}: dtype must be a string, found ${JSON.stringify(dtype)}`);
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    throw new UserError(`${where}: shape must be an array of non-negative integers, found ${JSON.stringify(shape)}`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
    throw new UserError(`${where}: data_offsets must be [begin, end], found ${JSON.stringify(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) throw new UserError(`${where}: data_offsets [${begin}, ${end}] end before they begin`);
  if (end > dataSize) {
    throw new UserError(`${where}: data ends at byte ${end} of the data section, but the file has only ${dataSize} data bytes (file truncated?)`);
  }
  const item = ITEM_SIZE[dtype];
  const count = (shape as number[]).reduce((a, b) => a * b, 1);
  if (item !== undefined && end - begin !== count * item) {
    throw new UserError(`${where}: expected ${count * item} bytes (shape [${shape.join(', ')}] x ${item} bytes of ${dtype}), found ${end - begin}`);
  }
  return { name, dtype, shape: shape as number[], byteOffset: dataStart + begin, byteLength: end - begin };
}

function readTensorData(fd: number, path: string, info: SafetensorsTensorInfo): Float32Array {
  const count = info.shape.reduce((a, b) => a * b, 1);
  const what = `tensor ${info.name}`;
  switch (info.dtype) {
    case 'F32':
      return readFloat32(fd, path, info.byteOffset, count, what);
    case 'F16':
      return f16ToF32(readUint16(fd, path, info.byteOffset, count, what));
    case 'BF16':
      return bf16ToF32(readUint16(fd, path, info.byteOffset, count, what));
    default:
      throw new UserError(`${path}: tensor ${info.name}: dtype ${info.dtype} is not supported (F32, F16 and BF16 are)`);
  }
}

export interface TensorToWrite extends NamedTensor {
  /** Stored dtype; F32 unless given. */
  readonly dtype?: FloatDtype;
}

/**
 * Writes tensors in map order. The header is padded with spaces to a multiple of 8 bytes (the spec
 * allows trailing whitespace) so that every F32 tensor starts 4-byte aligned for zero-copy readers.
 */
export function writeSafetensors(path: string, tensors: ReadonlyMap<string, TensorToWrite>, metadata?: Readonly<Record<string, string>>): void {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of tensors) {
    if (name === '__metadata__') throw new Error('__metadata__ is reserved and cannot name a tensor');
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new Error(`tensor ${name}: shape [${t.shape.join(', ')}] needs ${count} values, got ${t.data.length}`);
    const dtype = t.dtype ?? 'F32';
    const bytes = count * (ITEM_SIZE[dtype] ?? 4);
    header[name] = { dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  // Streamed tensor by tensor: a whole checkpoint can exceed the largest possible Buffer.
  const fd = openSync(path, 'w');
  try {
    writeAll(fd, len);
    writeAll(fd, json);
    for (const t of tensors.values()) writeAll(fd, encode(t.data, t.dtype ?? 'F32'));
  } finally {
    closeSync(fd);
  }
}

function encode(data: Float32Array, dtype: FloatDtype): Uint8Array {
  switch (dtype) {
    case 'F32':
      return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    case 'F16':
      return new Uint8Array(f32ToF16(data).buffer);
    case 'BF16':
      return new Uint8Array(f32ToBf16(data).buffer);
  }
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function isCount(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}
