// The activations a run keeps: every sender's output and the residual stream at each layer start.

export interface SenderCache {
  readonly batch: number;
  readonly seqLen: number;
  readonly dModel: number;
  /** [S, B, T, d] in sender order of the ComponentGraph. */
  readonly senders: Float32Array;
  /** residStart[l] is the residual stream [B, T, d] entering layer l; residStart[nLayers] enters the final norm. */
  readonly residStart: readonly Float32Array[];
}

/** One sender's output [B, T, d] as a view. */
export function senderOutput(cache: SenderCache, sender: number): Float32Array {
  const x = cache.batch * cache.seqLen * cache.dModel;
  return cache.senders.subarray(sender * x, (sender + 1) * x);
}

export function sameShape(a: SenderCache, b: SenderCache): boolean {
  return a.batch === b.batch && a.seqLen === b.seqLen && a.dModel === b.dModel && a.senders.length === b.senders.length;
}
