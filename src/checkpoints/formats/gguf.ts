// The GGUF format (llama.cpp), versions 2 and 3, little-endian:
//   magic "GGUF", u32 version, u64 tensor count, u64 metadata count,
//   metadata: (string key, u32 value type, value)*, tensor infos: (string name, u32 n_dims,
//   u64 dims[n_dims] innermost first, u32 ggml type, u64 offset)*, padding to `general.alignment`
//   (default 32), then tensor data; each offset is relative to the start of that data section.
// Strings are a u64 byte length then UTF-8 bytes. Only the header is parsed eagerly; tensors are
// read on demand.
import { UserError } from '../../core/errors.js';
import { readExactly, readFloat32, readUint16, withFile, writeAll } from './binary-file.js';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from './float16.js';
import { closeSync, openSync } from 'node:fs';

/**
 * A metadata value. Integers and floats of 32 bits or fewer are numbers; float32 values are given
 * as the shortest decimal that rounds to the same float32 (so an epsilon stored as 1e-5 reads as
 * 1e-5, not 9.99999974e-6). 64-bit integers are numbers when they are safe integers and bigints
 * otherwise. Arrays nest.
 */
export type GgufValue = number | bigint | boolean | string | GgufValue[];

export type GgufValueType = 'uint8' | 'int8' | 'uint16' | 'int16' | 'uint32' | 'int32' | 'float32' | 'bool' | 'string' | 'array' | 'uint64' | 'int64' | 'float64';

/** Value type ids in file order (GGUF_TYPE_*). */
const VALUE_TYPES: readonly GgufValueType[] = ['uint8', 'int8', 'uint16', 'int16', 'uint32', 'int32', 'float32', 'bool', 'string', 'array', 'uint64', 'int64', 'float64'];

/** ggml tensor type names by id (enum ggml_type); ids of removed types are undefined. */
export const GGML_TYPE_NAMES: readonly (string | undefined)[] = [
  'F32',
  'F16',
  'Q4_0',
  'Q4_1',
  undefined,
  undefined,
  'Q5_0',
  'Q5_1',
  'Q8_0',
  'Q8_1',
  'Q2_K',
  'Q3_K',
  'Q4_K',
  'Q5_K',
  'Q6_K',
  'Q8_K',
  'IQ2_XXS',
  'IQ2_XS',
  'IQ3_XXS',
  'IQ1_S',
  'IQ4_NL',
  'IQ3_S',
  'IQ2_S',
  'IQ4_XS',
  'I8',
  'I16',
  'I32',
  'I64',
  'F64',
  'IQ1_M',
  'BF16',
  undefined,
  undefined,
  undefined,
  'TQ1_0',
  'TQ2_0',
  undefined,
  undefined,
  undefined,
  'MXFP4',
];

export const GGML_F32 = 0;
export const GGML_F16 = 1;
export const GGML_BF16 = 30;

/** Types `readTensor` decodes, with their element sizes. */
const READABLE: ReadonlyMap<number, number> = new Map([
  [GGML_F32, 4],
  [GGML_F16, 2],
  [GGML_BF16, 2],
]);

export function ggmlTypeName(type: number): string {
  return GGML_TYPE_NAMES[type] ?? `unknown type ${type}`;
}

export interface GgufTensorInfo {
  readonly name: string;
  /** As stored: innermost (fastest-varying) dimension first. */
  readonly dims: readonly number[];
  /** Row-major shape, outermost first: `dims` reversed. [out, in] for a matrix. */
  readonly shape: readonly number[];
  /** ggml type id; see `ggmlTypeName`. */
  readonly type: number;
  /** Absolute position of the tensor's data in the file. */
  readonly byteOffset: number;
  /** Size in bytes for the types `readTensor` supports; undefined for other types. */
  readonly byteLength: number | undefined;
}

export interface GgufHeader {
  readonly path: string;
  readonly version: number;
  readonly metadata: ReadonlyMap<string, GgufValue>;
  /** The value type of each metadata key, as stored (arrays: 'array'). */
  readonly metadataTypes: ReadonlyMap<string, GgufValueType>;
  readonly tensors: readonly GgufTensorInfo[];
  readonly alignment: number;
  /** Absolute position of the data section. */
  readonly dataOffset: number;
  readonly fileSize: number;
}

export interface GgufFile extends GgufHeader {
  /** Reads a tensor as float32 (F32, F16, BF16); quantised types are a UserError naming the type. */
  readTensor(name: string): Float32Array;
  /** The info of one tensor, or undefined when the file has no tensor of that name. */
  tensorInfo(name: string): GgufTensorInfo | undefined;
}

/** Parses the header only (metadata and tensor infos): what a tokenizer needs. */
export function readGgufMetadata(path: string): GgufHeader {
  return withFile(path, (fd, size) => new HeaderParser(fd, path, size).parse());
}

export function readGguf(path: string): GgufFile {
  const header = readGgufMetadata(path);
  const byName = new Map(header.tensors.map((t) => [t.name, t]));
  return {
    ...header,
    tensorInfo: (name) => byName.get(name),
    readTensor(name: string): Float32Array {
      const t = byName.get(name);
      if (!t) throw new UserError(`${path}: tensor ${name} not found`);
      return withFile(path, (fd, size) => readTensorData(fd, path, size, t));
    },
  };
}

function readTensorData(fd: number, path: string, size: number, t: GgufTensorInfo): Float32Array {
  if (!READABLE.has(t.type)) {
    throw new UserError(
      `${path}: tensor ${t.name} has ggml type ${ggmlTypeName(t.type)}; only F32, F16 and BF16 are supported ` + `(dequantise the model first, e.g. llama.cpp's llama-quantize with type F16 or F32)`,
    );
  }
  checkExtent(path, size, t);
  const count = t.dims.reduce((a, b) => a * b, 1);
  const what = `tensor ${t.name}`;
  if (t.type === GGML_F32) return readFloat32(fd, path, t.byteOffset, count, what);
  const raw = readUint16(fd, path, t.byteOffset, count, what);
  return t.type === GGML_F16 ? f16ToF32(raw) : bf16ToF32(raw);
}

function checkExtent(path: string, size: number, t: GgufTensorInfo): void {
  const end = t.byteOffset + (t.byteLength ?? 0);
  if (end > size) {
    throw new UserError(`${path}: tensor ${t.name}: data needs bytes ${t.byteOffset}..${end}, but the file has ${size} bytes (file truncated?)`);
  }
}

/** A forward-only reader over the header that pulls the file in chunks as it goes. */
class HeaderParser {
  private buf = new Uint8Array(0);
  private view = new DataView(this.buf.buffer);
  /** File position of buf[0]. */
  private base = 0;
  private pos = 0;
  /** What is being parsed, for error messages. */
  private context = 'magic';

  constructor(
    private readonly fd: number,
    private readonly path: string,
    private readonly size: number,
  ) {}

  parse(): GgufHeader {
    const { path } = this;
    if (this.size < 4) throw new UserError(`${path}: not a GGUF file: expected the magic "GGUF", found a file of ${this.size} bytes`);
    const magic = String.fromCharCode(...this.bytes(4));
    if (magic !== 'GGUF') throw new UserError(`${path}: not a GGUF file: expected magic "GGUF", found ${JSON.stringify(magic)}`);
    this.context = 'version';
    const version = this.u32();
    if (version !== 2 && version !== 3) {
      const swapped = ((version & 0xff) << 24) | ((version & 0xff00) << 8) | ((version >>> 8) & 0xff00) | (version >>> 24);
      if (swapped === 2 || swapped === 3) throw new UserError(`${path}: big-endian GGUF files are not supported`);
      throw new UserError(`${path}: GGUF version ${version} is not supported (expected 2 or 3)`);
    }
    this.context = 'tensor count';
    const nTensors = this.count('tensor count');
    this.context = 'metadata count';
    const nKv = this.count('metadata count');

    const metadata = new Map<string, GgufValue>();
    const metadataTypes = new Map<string, GgufValueType>();
    for (let i = 0; i < nKv; i++) {
      this.context = `metadata entry ${i}`;
      const key = this.string();
      this.context = `metadata key ${key}`;
      const type = this.valueType();
      metadata.set(key, this.value(type));
      metadataTypes.set(key, type);
    }

    const alignValue = metadata.get('general.alignment') ?? 32;
    if (typeof alignValue !== 'number' || !Number.isInteger(alignValue) || alignValue <= 0 || alignValue % 8 !== 0) {
      throw new UserError(`${path}: general.alignment must be a positive multiple of 8, found ${String(alignValue)}`);
    }
    const alignment = alignValue;

    const raw: { name: string; dims: number[]; type: number; offset: number }[] = [];
    for (let i = 0; i < nTensors; i++) {
      this.context = `tensor info ${i}`;
      const name = this.string();
      this.context = `tensor info ${i} (${name})`;
      const nDims = this.u32();
      if (nDims > 8) throw new UserError(`${path}: tensor ${name}: n_dims ${nDims} is out of range (at most 8)`);
      const dims: number[] = [];
      for (let d = 0; d < nDims; d++) dims.push(this.count(`tensor ${name} dimension ${d}`));
      const type = this.u32();
      const offset = this.count(`tensor ${name} offset`);
      if (offset % alignment !== 0) {
        throw new UserError(`${path}: tensor ${name}: data offset ${offset} is not a multiple of the alignment ${alignment}`);
      }
      raw.push({ name, dims, type, offset });
    }
    const dataOffset = Math.ceil((this.base + this.pos) / alignment) * alignment;

    const tensors: GgufTensorInfo[] = raw.map(({ name, dims, type, offset }) => {
      const item = READABLE.get(type);
      const t: GgufTensorInfo = {
        name,
        dims,
        shape: [...dims].reverse(),
        type,
        byteOffset: dataOffset + offset,
        byteLength: item === undefined ? undefined : dims.reduce((a, b) => a * b, 1) * item,
      };
      if (t.byteOffset > this.size) {
        throw new UserError(`${path}: tensor ${name}: data starts at byte ${t.byteOffset}, but the file has ${this.size} bytes (file truncated?)`);
      }
      checkExtent(path, this.size, t);
      return t;
    });
    const names = new Set<string>();
    for (const t of tensors) {
      if (names.has(t.name)) throw new UserError(`${path}: tensor ${t.name} appears twice`);
      names.add(t.name);
    }
    return { path, version, metadata, metadataTypes, tensors, alignment, dataOffset, fileSize: this.size };
  }

  private value(type: GgufValueType): GgufValue {
    switch (type) {
      case 'uint8':
        return this.need(1).getUint8(this.advance(1));
      case 'int8':
        return this.need(1).getInt8(this.advance(1));
      case 'uint16':
        return this.need(2).getUint16(this.advance(2), true);
      case 'int16':
        return this.need(2).getInt16(this.advance(2), true);
      case 'uint32':
        return this.u32();
      case 'int32':
        return this.need(4).getInt32(this.advance(4), true);
      case 'float32':
        return shortestFloat32(this.need(4).getFloat32(this.advance(4), true));
      case 'bool':
        return this.need(1).getUint8(this.advance(1)) !== 0;
      case 'string':
        return this.string();
      case 'uint64':
        return narrow(this.need(8).getBigUint64(this.advance(8), true));
      case 'int64':
        return narrow(this.need(8).getBigInt64(this.advance(8), true));
      case 'float64':
        return this.need(8).getFloat64(this.advance(8), true);
      case 'array': {
        const elemType = this.valueType();
        const n = this.count('array length');
        // Each element takes at least one byte: a length beyond the file is corruption, not a huge array.
        if (n > this.size - (this.base + this.pos)) {
          throw new UserError(`${this.path}: ${this.context}: array length ${n} exceeds the rest of the file`);
        }
        const out: GgufValue[] = new Array<GgufValue>(n);
        for (let i = 0; i < n; i++) out[i] = this.value(elemType);
        return out;
      }
    }
  }

  private valueType(): GgufValueType {
    const id = this.u32();
    const t = VALUE_TYPES[id];
    if (t === undefined) throw new UserError(`${this.path}: ${this.context}: unknown metadata value type ${id}`);
    return t;
  }

  private string(): string {
    const n = this.count('string length');
    if (n > this.size) throw new UserError(`${this.path}: ${this.context}: string length ${n} exceeds the file size ${this.size}`);
    this.need(n);
    const p = this.advance(n);
    return Buffer.from(this.buf.buffer, this.buf.byteOffset + p, n).toString('utf8');
  }

  private u32(): number {
    return this.need(4).getUint32(this.advance(4), true);
  }

  /** A u64 used as a count or offset: must fit a safe integer. */
  private count(what: string): number {
    const v = this.need(8).getBigUint64(this.advance(8), true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new UserError(`${this.path}: ${this.context}: ${what} ${v} is out of range`);
    return Number(v);
  }

  private bytes(n: number): Uint8Array {
    this.need(n);
    const p = this.advance(n);
    return this.buf.subarray(p, p + n);
  }

  private advance(n: number): number {
    const p = this.pos;
    this.pos += n;
    return p;
  }

  /** Makes n bytes from pos available in buf, reading more of the file when needed. */
  private need(n: number): DataView {
    if (this.pos + n <= this.buf.length) return this.view;
    const at = this.base + this.pos;
    if (at + n > this.size) {
      throw new UserError(`${this.path}: truncated GGUF header while reading ${this.context}: expected ${n} bytes at offset ${at}, found ${Math.max(0, this.size - at)}`);
    }
    const want = Math.min(this.size - at, Math.max(n, 1 << 20));
    const keep = this.buf.subarray(this.pos);
    const next = new Uint8Array(want);
    next.set(keep);
    readExactly(this.fd, this.path, at + keep.length, next.subarray(keep.length), 'GGUF header');
    this.buf = next;
    this.view = new DataView(next.buffer);
    this.base = at;
    this.pos = 0;
    return this.view;
  }
}

function narrow(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** The shortest decimal that rounds to the same float32. */
function shortestFloat32(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  for (let p = 1; p < 9; p++) {
    const v = Number(x.toPrecision(p));
    if (Math.fround(v) === x) return v;
  }
  return x;
}

// ---- typed access to metadata, with errors that name the file and key ----

export function ggufNumber(h: GgufHeader, key: string, fallback?: number): number {
  const v = h.metadata.get(key);
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') throw new UserError(`${h.path}: metadata ${key} = ${v} is out of range`);
  throw new UserError(`${h.path}: metadata ${key}: expected a number, found ${describe(v)}`);
}

export function ggufString(h: GgufHeader, key: string, fallback?: string): string {
  const v = h.metadata.get(key);
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v === 'string') return v;
  throw new UserError(`${h.path}: metadata ${key}: expected a string, found ${describe(v)}`);
}

export function ggufArray(h: GgufHeader, key: string): GgufValue[] {
  const v = h.metadata.get(key);
  if (Array.isArray(v)) return v;
  throw new UserError(`${h.path}: metadata ${key}: expected an array, found ${describe(v)}`);
}

function describe(v: GgufValue | undefined): string {
  if (v === undefined) return 'nothing (key missing)';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  return `${typeof v} ${String(v)}`;
}

// ---- writing (tests, and exporting small models) ----

/** A metadata value with an explicit stored type; plain values pick a type (see writeGguf). */
export interface GgufTyped {
  readonly type: GgufValueType;
  /** For arrays: the element type (nested arrays infer theirs). */
  readonly elementType?: GgufValueType;
  readonly value: GgufValue;
}

export type GgufTensorToWrite =
  | { readonly name: string; readonly shape: readonly number[]; readonly type?: 'F32' | 'F16' | 'BF16'; readonly data: Float32Array }
  /** Pre-encoded data of any ggml type (e.g. a quantised block), written as is. */
  | { readonly name: string; readonly shape: readonly number[]; readonly ggmlType: number; readonly raw: Uint8Array };

/**
 * Writes a GGUF v3 file. `shape` is row-major (outermost first) and is stored reversed, as GGUF
 * wants. Untyped metadata: strings, booleans; integers 0..2^32-1 as uint32, other integers as
 * int32/int64; non-integers as float32; bigints as int64/uint64; arrays of numbers are float32 if
 * any element is not an integer, else the integer type that fits all (empty arrays: uint32). Give a
 * GgufTyped value where a reader insists on a type.
 */
export function writeGguf(path: string, metadata: ReadonlyMap<string, GgufValue | GgufTyped>, tensors: readonly GgufTensorToWrite[], alignment = 32): void {
  const w = new ByteWriter();
  w.raw(new TextEncoder().encode('GGUF'));
  w.u32(3);
  w.u64(BigInt(tensors.length));
  const kv = new Map(metadata);
  if (alignment !== 32 && !kv.has('general.alignment')) kv.set('general.alignment', { type: 'uint32', value: alignment });
  w.u64(BigInt(kv.size));
  for (const [key, v] of kv) {
    w.string(key);
    if (isTyped(v)) writeValue(w, v.value, v.type, true, v.elementType);
    else writeValue(w, v);
  }
  const blobs: Uint8Array[] = [];
  let offset = 0;
  for (const t of tensors) {
    const blob = 'raw' in t ? t.raw : encodeTensor(t.data, t.type ?? 'F32');
    const type = 'raw' in t ? t.ggmlType : GGML_TYPE_NAMES.indexOf(t.type ?? 'F32');
    w.string(t.name);
    w.u32(t.shape.length);
    for (const d of [...t.shape].reverse()) w.u64(BigInt(d));
    w.u32(type);
    w.u64(BigInt(offset));
    blobs.push(blob);
    offset += Math.ceil(blob.length / alignment) * alignment;
  }
  w.pad(alignment);
  const fd = openSync(path, 'w');
  try {
    writeAll(fd, w.bytes());
    for (const b of blobs) {
      writeAll(fd, b);
      const pad = (alignment - (b.length % alignment)) % alignment;
      if (pad) writeAll(fd, new Uint8Array(pad));
    }
  } finally {
    closeSync(fd);
  }
}

function isTyped(v: GgufValue | GgufTyped): v is GgufTyped {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function encodeTensor(data: Float32Array, type: 'F32' | 'F16' | 'BF16'): Uint8Array {
  if (type === 'F32') return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array((type === 'F16' ? f32ToF16(data) : f32ToBf16(data)).buffer);
}

function inferType(v: GgufValue): GgufValueType {
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'bigint') return v < 0n ? 'int64' : 'uint64';
  if (Array.isArray(v)) return 'array';
  return numberType([v]);
}

/** The narrowest of uint32, int32, int64, float32 that holds every number. */
function numberType(xs: readonly number[]): GgufValueType {
  if (xs.some((x) => !Number.isInteger(x))) return 'float32';
  if (xs.every((x) => x >= 0 && x < 2 ** 32)) return 'uint32';
  if (xs.every((x) => x >= -(2 ** 31) && x < 2 ** 31)) return 'int32';
  return 'int64';
}

function inferElementType(arr: readonly GgufValue[]): GgufValueType {
  if (arr.length === 0) return 'uint32';
  if (arr.every((e) => typeof e === 'number')) return numberType(arr as number[]);
  return inferType(arr[0]!);
}

function writeValue(w: ByteWriter, v: GgufValue, type: GgufValueType = inferType(v), withType = true, elementType?: GgufValueType): void {
  if (withType) w.u32(VALUE_TYPES.indexOf(type));
  switch (type) {
    case 'uint8':
      w.scalar(1, (d) => d.setUint8(0, Number(v)));
      break;
    case 'int8':
      w.scalar(1, (d) => d.setInt8(0, Number(v)));
      break;
    case 'uint16':
      w.scalar(2, (d) => d.setUint16(0, Number(v), true));
      break;
    case 'int16':
      w.scalar(2, (d) => d.setInt16(0, Number(v), true));
      break;
    case 'uint32':
      w.u32(Number(v));
      break;
    case 'int32':
      w.scalar(4, (d) => d.setInt32(0, Number(v), true));
      break;
    case 'float32':
      w.scalar(4, (d) => d.setFloat32(0, Number(v), true));
      break;
    case 'bool':
      w.scalar(1, (d) => d.setUint8(0, v ? 1 : 0));
      break;
    case 'string':
      w.string(String(v));
      break;
    case 'uint64':
      w.u64(BigInt(v as number | bigint));
      break;
    case 'int64':
      w.scalar(8, (d) => d.setBigInt64(0, BigInt(v as number | bigint), true));
      break;
    case 'float64':
      w.scalar(8, (d) => d.setFloat64(0, Number(v), true));
      break;
    case 'array': {
      const arr = v as GgufValue[];
      const et = elementType ?? inferElementType(arr);
      w.u32(VALUE_TYPES.indexOf(et));
      w.u64(BigInt(arr.length));
      for (const e of arr) writeValue(w, e, et, false);
      break;
    }
  }
}

class ByteWriter {
  private parts: Uint8Array[] = [];
  private length = 0;

  raw(b: Uint8Array): void {
    this.parts.push(b);
    this.length += b.length;
  }
  scalar(n: number, set: (d: DataView) => void): void {
    const b = new Uint8Array(n);
    set(new DataView(b.buffer));
    this.raw(b);
  }
  u32(v: number): void {
    this.scalar(4, (d) => d.setUint32(0, v, true));
  }
  u64(v: bigint): void {
    this.scalar(8, (d) => d.setBigUint64(0, v, true));
  }
  string(s: string): void {
    const b = new TextEncoder().encode(s);
    this.u64(BigInt(b.length));
    this.raw(b);
  }
  pad(alignment: number): void {
    const pad = (alignment - (this.length % alignment)) % alignment;
    if (pad) this.raw(new Uint8Array(pad));
  }
  bytes(): Uint8Array {
    return Buffer.concat(this.parts);
  }
}
