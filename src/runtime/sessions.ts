// onnxruntime-node sessions of one model, built on first use and kept: building a graph and a
// session costs far more than running it.
import { availableParallelism } from 'node:os';
import ort from 'onnxruntime-node';

export type Feeds = Record<string, ort.Tensor>;
export type Fetches = Record<string, ort.Tensor>;

export interface SessionOptions {
  /** Intra-op threads; default: every core. */
  readonly threads?: number;
}

export class SessionPool {
  private readonly sessions = new Map<string, Promise<ort.InferenceSession>>();

  constructor(private readonly opts: SessionOptions = {}) {}

  /**
   * The session for `key`, building its graph with `build` the first time. `bigBuffers` marks
   * sessions whose intermediates scale with the number of receivers or mask configurations: they
   * return memory to the system after each run instead of keeping an arena at their peak size
   * (one arena per layer session would multiply the peak by the number of layers).
   */
  get(key: string, build: () => Uint8Array, bigBuffers = false): Promise<ort.InferenceSession> {
    let s = this.sessions.get(key);
    if (!s) {
      s = ort.InferenceSession.create(build(), {
        intraOpNumThreads: this.opts.threads ?? availableParallelism(),
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        enableCpuMemArena: !bigBuffers,
      });
      this.sessions.set(key, s);
    }
    return s;
  }

  /** Runs a session; outputs given in `into` are written into those tensors' buffers in place. */
  async run(key: string, build: () => Uint8Array, feeds: Feeds, into?: Fetches, bigBuffers = false): Promise<Fetches> {
    const session = await this.get(key, build, bigBuffers);
    return into ? session.run(feeds, into) : session.run(feeds);
  }

  async release(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(all.map(async (s) => (await s).release()));
  }
}

export const f32 = (data: Float32Array, dims: readonly number[]): ort.Tensor => new ort.Tensor('float32', data, [...dims]);
export const i64 = (data: BigInt64Array, dims: readonly number[]): ort.Tensor => new ort.Tensor('int64', data, [...dims]);

export function floats(t: ort.Tensor | undefined, name: string): Float32Array {
  if (!t || !(t.data instanceof Float32Array)) throw new Error(`session output ${name} missing or not float32`);
  return t.data;
}
