// The viewer's data files: what `viz build` writes and the viewer reads. Shared by both sides so
// they cannot drift. Files are scripts that call `window.__PATCHWISE__.register(name, payload)`
// (fetch() cannot read files under file://); dense arrays travel as base64 of little-endian bytes.
// Pure (no Node or DOM APIs), so the browser bundle and the tests share it.

import type { Detection } from '../core/vocabulary.js';
import type { EffectAgreement } from '../evaluation/method-agreement.js';

export const VIZ_FORMAT_VERSION = 1;
/** The global the data scripts call; the viewer defines it before any data script runs. */
export const VIZ_GLOBAL = '__PATCHWISE__';
export const INDEX_CHUNK = 'index';

export const runChunk = (id: number): string => `run-${id}`;
/** What the nodes of a model write (one chunk per model, by fingerprint prefix). */
export const writesChunk = (fingerprint: string): string => `writes-${fingerprint.replace(/[^A-Za-z0-9]/g, '').slice(0, 24)}`;
export const circuitChunk = (id: number): string => `circuit-${id}`;
/** File of a chunk, relative to the site root. */
export const chunkFile = (chunk: string): string => `data/${chunk}.js`;

export interface VizRunInfo {
  readonly id: number;
  readonly pipeline: string;
  readonly key: string;
  readonly status: string;
  readonly model: string;
  readonly modelFingerprint: string;
  readonly task: string;
  /** From the run's settings; null where the settings do not say. */
  readonly corruption: string | null;
  readonly direction: string | null;
  readonly metric: string | null;
  readonly granularity: string | null;
  readonly window: number | null;
  /** A path-patching run's receiver set (its effects are one per sender); null for node-level runs. */
  readonly receivers: readonly string[] | null;
  /** The receiver set's name (its receivers joined when the run has none); null for node-level runs. */
  readonly receiverSet: string | null;
  /** Clean and corrupted metric values of the run (its stored detail), when recorded. */
  readonly baselines: { readonly clean: number; readonly corrupted: number } | null;
  readonly nPairs: number | null;
  /** A few prompt pairs as text, for context (strings from data: render as text only). */
  readonly prompts: readonly { readonly clean: string; readonly corrupted: string }[];
  /** Token position of each named role (IO, S2, END, ...) when every pair agrees; else empty. */
  readonly roles: Readonly<Record<string, number>>;
  readonly nComponents: number;
  readonly nDetections: number;
  /** A patching run's method where its settings name one ('attribution' for AtP); null for exact patching and other stages. */
  readonly method: string | null;
  /** An AtP run's agreement with the exact run of the same point, where one was stored. */
  readonly agreement: { readonly exactRunId: number; readonly agreement: EffectAgreement } | null;
}

/** A run's node-level mean effects and detections, columnar (one entry per component). */
export interface VizRunEffects {
  readonly runId: number;
  readonly component: readonly string[];
  readonly kind: readonly string[];
  readonly layer: readonly number[];
  readonly head: readonly (number | null)[];
  readonly position: readonly (number | null)[];
  readonly window: readonly number[];
  readonly mean: readonly number[];
  readonly std: readonly number[];
  readonly n: readonly number[];
  readonly detections: readonly VizDetection[];
}

/** A detection as the viewer gets it (its spread is not shown). */
export type VizDetection = Omit<Detection, 'std'>;

export interface VizCircuitInfo {
  readonly id: number;
  readonly pipeline: string;
  readonly key: string;
  readonly runId: number | null;
  readonly method: string;
  readonly metric: string | null;
  readonly corruption: string | null;
  readonly direction: string | null;
  readonly threshold: number | null;
  readonly faithfulness: number | null;
  readonly modelName: string | null;
  readonly modelFingerprint: string | null;
  readonly nLayers: number;
  readonly nHeads: number;
  /** Edges of the graph (the length of the chunk's arrays). */
  readonly nEdges: number;
  readonly nScored: number;
  /** In-circuit edges of the stored mask. */
  readonly size: number;
  /** Bytes of the chunk file, so the viewer can say what it is loading. */
  readonly bytes: number;
}

/**
 * A circuit's dense arrays, in ComponentGraph.edges() order (receivers forward, senders forward
 * within each): only real edges, no [sender x receiver] padding.
 */
export interface VizCircuitChunk {
  readonly id: number;
  /** base64 of float32 LE per edge; NaN = unscored. */
  readonly scores: string;
  /** base64 of a bitset, bit k (LSB first) = edge k in the stored circuit. */
  readonly mask: string;
}

export interface VizCurve {
  readonly pipeline: string;
  readonly key: string;
  /** 'faithfulness', 'roc', ... */
  readonly kind: string;
  readonly runId: number | null;
  readonly circuitId: number | null;
  readonly threshold: readonly (number | null)[];
  readonly size: readonly (number | null)[];
  readonly faithfulness: readonly (number | null)[];
  readonly tpr: readonly (number | null)[];
  readonly fpr: readonly (number | null)[];
}

/** A token a node's mean output pushes up or down, and by how much (logit units, before softmax). */
export interface VizTokenPush {
  readonly token: string;
  readonly id: number;
  readonly logit: number;
}

/**
 * What each node of a model writes: its mean output (over a run's prompts, at each prompt's metric
 * position) through the final norm's gain (centred for LayerNorm) and the unembedding, as the
 * tokens it promotes and suppresses most. Computed by `viz build` when the model can be loaded.
 */
export interface VizWrites {
  readonly modelFingerprint: string;
  /** The run whose prompts were used. */
  readonly runId: number;
  readonly nPrompts: number;
  readonly nodes: Readonly<Record<string, { readonly promoted: readonly VizTokenPush[]; readonly suppressed: readonly VizTokenPush[] }>>;
}

/** Per model: the writes chunk, or why there is none. */
export interface VizWritesEntry {
  readonly modelFingerprint: string;
  readonly chunk: string | null;
  readonly note: string | null;
}

export interface VizIndex {
  readonly version: typeof VIZ_FORMAT_VERSION;
  /** Base name of the database the site was built from. */
  readonly source: string;
  readonly builtAt: string;
  readonly runs: readonly VizRunInfo[];
  readonly circuits: readonly VizCircuitInfo[];
  readonly curves: readonly VizCurve[];
  /** What nodes write, per model of a circuit (absent in sites built before it existed). */
  readonly writes?: readonly VizWritesEntry[];
}

// ---- binary packing ----

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Standard base64 (with padding), without Buffer or btoa so it behaves the same everywhere. */
export function bytesToBase64(bytes: Uint8Array): string {
  const out: string[] = [];
  let chunk = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const a = bytes[i]!;
    const b = i + 1 < bytes.length ? bytes[i + 1]! : 0;
    const c = i + 2 < bytes.length ? bytes[i + 2]! : 0;
    const n = (a << 16) | (b << 8) | c;
    chunk += B64[(n >> 18) & 63]! + B64[(n >> 12) & 63]! + (i + 1 < bytes.length ? B64[(n >> 6) & 63]! : '=') + (i + 2 < bytes.length ? B64[n & 63]! : '=');
    if (chunk.length >= 8192) {
      out.push(chunk);
      chunk = '';
    }
  }
  out.push(chunk);
  return out.join('');
}

const B64_INDEX = new Int16Array(128).fill(-1);
for (let i = 0; i < B64.length; i++) B64_INDEX[B64.charCodeAt(i)] = i;

export function base64ToBytes(text: string): Uint8Array {
  if (text.length % 4 !== 0) throw new Error(`base64 text of length ${text.length} is not a multiple of 4`);
  const pad = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  const out = new Uint8Array((text.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < text.length; i += 4) {
    let n = 0;
    for (let j = 0; j < 4; j++) {
      const ch = text.charCodeAt(i + j);
      const v = ch === 61 /* = */ ? 0 : ch < 128 ? B64_INDEX[ch]! : -1;
      if (v < 0) throw new Error(`invalid base64 character at ${i + j}`);
      n = (n << 6) | v;
    }
    if (o < out.length) out[o++] = (n >> 16) & 255;
    if (o < out.length) out[o++] = (n >> 8) & 255;
    if (o < out.length) out[o++] = n & 255;
  }
  return out;
}

export function packFloat32(values: Float32Array): string {
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(4 * i, values[i]!, true);
  return bytesToBase64(bytes);
}

export function unpackFloat32(text: string, expected: number): Float32Array {
  const bytes = base64ToBytes(text);
  if (bytes.length !== 4 * expected) throw new Error(`float32 array has ${bytes.length} bytes, expected 4 x ${expected}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(expected);
  for (let i = 0; i < expected; i++) out[i] = view.getFloat32(4 * i, true);
  return out;
}

/** 0/1 bytes -> base64 bitset (LSB first within each byte). */
export function packBits(bits: Uint8Array): string {
  const bytes = new Uint8Array(Math.ceil(bits.length / 8));
  for (let i = 0; i < bits.length; i++) if (bits[i] !== 0) bytes[i >> 3]! |= 1 << (i & 7);
  return bytesToBase64(bytes);
}

export function unpackBits(text: string, expected: number): Uint8Array {
  const bytes = base64ToBytes(text);
  if (bytes.length !== Math.ceil(expected / 8)) throw new Error(`bitset has ${bytes.length} bytes, expected ${Math.ceil(expected / 8)} for ${expected} bits`);
  const out = new Uint8Array(expected);
  for (let i = 0; i < expected; i++) out[i] = (bytes[i >> 3]! >> (i & 7)) & 1;
  return out;
}

/**
 * JSON as a JavaScript expression that is safe anywhere in a script file: `<`, `>` and the two
 * line separators JSON allows raw are escaped, so no data string can end a script element early.
 */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/[<>\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The text of a data file: one register call. */
export function dataScript(chunk: string, payload: unknown): string {
  return `window.${VIZ_GLOBAL}.register(${JSON.stringify(chunk)},${scriptJson(payload)});\n`;
}
