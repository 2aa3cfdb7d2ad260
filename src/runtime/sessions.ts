// onnxruntime-node sessions of one model, built on first use and kept: building a session costs far
// more than running it. Graphs take the model's weights as inputs (see onnx/builder.ts), fed from
// the caller's arrays with every run, so that the weights are in memory once; and graphs that are
// the same but for their weights (every layer's) share one session, with one memory arena.
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import ort from 'onnxruntime-node';
import type { BuiltGraph } from './onnx/builder.js';

export type Feeds = Record<string, ort.Tensor>;
export type Fetches = Record<string, ort.Tensor>;

export interface SessionOptions {
  /** Intra-op threads; default: every core. */
  readonly threads?: number;
  /**
   * onnxruntime's memory pattern (default on): after the first run it reserves one block for the
   * graph's whole plan besides the arena. Graphs with gigabytes of intermediates (attribution)
   * turn it off: it doubled their resident memory and saved no time.
   */
  readonly memoryPattern?: boolean;
  /**
   * Let idle intra-op threads spin waiting for the next op (onnxruntime's default; here off). A
   * run that goes through several sessions (a patched pass: one per kind of layer graph) has the
   * last session's spinning threads on the cores the next one needs: with spinning an ACDC pass
   * took as long on two cores as on one.
   */
  readonly spinning?: boolean;
}

interface PooledSession {
  readonly session: Promise<ort.InferenceSession>;
  /** The weight inputs of the graph, as tensors over the model's own arrays (no copies). */
  readonly weights: Feeds;
}

export class SessionPool {
  /** By caller's key (a graph with its weights, e.g. one layer). */
  private readonly byKey = new Map<string, PooledSession>();
  /** By graph content (weights excluded): the sessions themselves. */
  private readonly byGraph = new Map<string, Promise<ort.InferenceSession>>();

  constructor(private readonly opts: SessionOptions = {}) {}

  /**
   * The session for `key`, building its graph with `build` the first time. Each session keeps a
   * memory arena at its peak size: since all layers share their session, that is one arena per
   * kind of layer graph, not per layer, and fresh buffers (page faults, zeroing) would cost far
   * more than the arena keeps.
   */
  get(key: string, build: () => BuiltGraph): PooledSession {
    let pooled = this.byKey.get(key);
    if (!pooled) {
      const graph = build();
      const content = createHash('sha256').update(graph.bytes).digest('hex');
      let session = this.byGraph.get(content);
      if (!session) {
        session = this.create(graph.bytes);
        this.byGraph.set(content, session);
      }
      const weights: Feeds = {};
      for (const w of graph.weights) weights[w.name] = f32(w.data, w.dims);
      pooled = { session, weights };
      this.byKey.set(key, pooled);
    }
    return pooled;
  }

  /** Runs a session; outputs given in `into` are written into those tensors' buffers in place. */
  async run(key: string, build: () => BuiltGraph, feeds: Feeds, into?: Fetches): Promise<Fetches> {
    const pooled = this.get(key, build);
    const session = await pooled.session;
    const all = { ...pooled.weights, ...feeds };
    return into ? session.run(all, into) : session.run(all);
  }

  async release(): Promise<void> {
    const all = [...this.byGraph.values()];
    this.byGraph.clear();
    this.byKey.clear();
    await Promise.all(all.map(async (s) => (await s).release()));
  }

  private create(bytes: Uint8Array): Promise<ort.InferenceSession> {
    return ort.InferenceSession.create(bytes, {
      intraOpNumThreads: this.opts.threads ?? availableParallelism(),
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      enableCpuMemArena: true,
      // Every session has its own pool of intra-op threads (see SessionOptions.spinning).
      extra: { session: { intra_op: { allow_spinning: this.opts.spinning ? '1' : '0' } } },
      enableMemPattern: this.opts.memoryPattern ?? true,
    });
  }
}

export const f32 = (data: Float32Array, dims: readonly number[]): ort.Tensor => new ort.Tensor('float32', data, [...dims]);
export const i64 = (data: BigInt64Array, dims: readonly number[]): ort.Tensor => new ort.Tensor('int64', data, [...dims]);

export function floats(t: ort.Tensor | undefined, name: string): Float32Array {
  if (!t || !(t.data instanceof Float32Array)) throw new Error(`session output ${name} missing or not float32`);
  return t.data;
}
