// The site's data, decoded: the index, and circuits and run effects loaded on demand and cached.
import {
  INDEX_CHUNK,
  VIZ_FORMAT_VERSION,
  circuitChunk,
  runChunk,
  unpackBits,
  unpackFloat32,
  type VizCircuitChunk,
  type VizCircuitInfo,
  type VizIndex,
  type VizRunEffects,
  type VizWrites,
} from '../../src/viz-export/format.js';
import { edgeIndex, sortedMagnitudes, type EdgeIndex } from './edges.js';
import { loadChunk } from './loader.js';

export interface LoadedCircuit {
  readonly info: VizCircuitInfo;
  readonly ix: EdgeIndex;
  /** Per edge (edge order); NaN = unscored. */
  readonly scores: Float32Array;
  /** The stored in-circuit mask, per edge. */
  readonly mask: Uint8Array;
  /** |scores| of the scored edges, descending. */
  readonly magnitudes: Float32Array;
  /** Largest |score|, for edge widths (1 when nothing is scored). */
  readonly maxAbs: number;
}

/** Decodes a circuit chunk against its index entry (shared with the tests). */
export function decodeCircuit(info: VizCircuitInfo, chunk: VizCircuitChunk): LoadedCircuit {
  const ix = edgeIndex(info.nLayers, info.nHeads);
  if (ix.nEdges !== info.nEdges) throw new Error(`circuit ${info.id}: index says ${info.nEdges} edges, ${info.nLayers} x ${info.nHeads} has ${ix.nEdges}`);
  const scores = unpackFloat32(chunk.scores, ix.nEdges);
  const mask = unpackBits(chunk.mask, ix.nEdges);
  const magnitudes = sortedMagnitudes(scores);
  return { info, ix, scores, mask, magnitudes, maxAbs: magnitudes[0] || 1 };
}

export class SiteData {
  private readonly circuits = new Map<number, Promise<LoadedCircuit>>();
  private readonly effects = new Map<number, Promise<VizRunEffects>>();

  private constructor(readonly index: VizIndex) {}

  static async load(): Promise<SiteData> {
    const index = (await loadChunk(INDEX_CHUNK)) as VizIndex;
    if (index.version !== VIZ_FORMAT_VERSION) throw new Error(`data format version ${String(index.version)}; this viewer reads version ${VIZ_FORMAT_VERSION}: rebuild the site`);
    return new SiteData(index);
  }

  circuitInfo(id: number): VizCircuitInfo | undefined {
    return this.index.circuits.find((c) => c.id === id);
  }

  circuit(id: number): Promise<LoadedCircuit> {
    let p = this.circuits.get(id);
    if (!p) {
      const info = this.circuitInfo(id);
      if (!info) return Promise.reject(new Error(`no circuit ${id} in this site`));
      p = loadChunk(circuitChunk(id)).then((c) => decodeCircuit(info, c as VizCircuitChunk));
      this.circuits.set(id, p);
    }
    return p;
  }

  /** What a model's nodes write, or why the site has it not (a note), or undefined for an unknown model. */
  async writes(fingerprint: string | null): Promise<VizWrites | string | undefined> {
    const entry = this.index.writes?.find((w) => w.modelFingerprint === fingerprint);
    if (!entry) return undefined;
    if (entry.chunk === null) return entry.note ?? 'not computed';
    return (await loadChunk(entry.chunk)) as VizWrites;
  }

  runEffects(runId: number): Promise<VizRunEffects> {
    let p = this.effects.get(runId);
    if (!p) {
      p = loadChunk(runChunk(runId)) as Promise<VizRunEffects>;
      this.effects.set(runId, p);
    }
    return p;
  }
}
