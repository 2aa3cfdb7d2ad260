// Hand-written references shared by the tests of node patching against the float64 forward: what
// each component patches, as a reference mask, and the metrics, computed independently of src.
import type { ComponentGraph } from '../../src/graph/component-graph.js';
import type { PromptPair } from '../../src/tasks/types.js';
import type { Mask } from '../reference/patched-forward.js';

/** Independent definitions of what each component patches, as reference masks. */
export function referenceMask(graph: ComponentGraph, name: string): Mask {
  let m: RegExpMatchArray | null;
  const at = (p: string | undefined) => (p === undefined ? () => true : (t: number) => t === Number(p));
  if ((m = name.match(/^a(\d+)\.h(\d+)(?:@(\d+))?$/))) {
    const s = graph.headSender(Number(m[1]), Number(m[2]));
    const pos = at(m[3]);
    return (sender, _r, t) => (sender === s && pos(t) ? 1 : 0);
  }
  if ((m = name.match(/^a(\d+)\.h(\d+)<([qkv])>$/))) {
    const r = graph.headInputReceiver(Number(m[1]), Number(m[2]), m[3] as 'q' | 'k' | 'v');
    return (_s, receiver) => (receiver === r ? 1 : 0);
  }
  if ((m = name.match(/^(?:m(\d+)|mlp\.L(\d+)-(\d+))@(\d+)$/))) {
    const first = Number(m[1] ?? m[2]);
    const last = Number(m[1] ?? m[3]);
    const p = Number(m[4]);
    return (s, _r, t) => {
      const node = graph.senders[s]!;
      return t === p && node.kind === 'mlp' && node.layer >= first && node.layer <= last ? 1 : 0;
    };
  }
  if ((m = name.match(/^attn\.L(\d+)(?:-(\d+))?@(\d+)$/))) {
    const first = Number(m[1]);
    const last = Number(m[2] ?? m[1]);
    const p = Number(m[3]);
    return (s, _r, t) => {
      const node = graph.senders[s]!;
      return t === p && node.kind === 'head' && node.layer >= first && node.layer <= last ? 1 : 0;
    };
  }
  if ((m = name.match(/^resid_pre\.L(\d+)@(\d+)$/))) {
    const L = Number(m[1]);
    const p = Number(m[2]);
    const before = L >= graph.nLayers ? graph.nSenders : graph.layerSenderStart(L);
    return (s, r, t) => (t === p && s < before && graph.receiverLayer(r) >= L ? 1 : 0);
  }
  // Whole layers over all positions: every head (attn) or the MLP (m, mlp) of the window's layers.
  if ((m = name.match(/^(?:attn\.L(\d+)(?:-(\d+))?|m(\d+)|mlp\.L(\d+)-(\d+))$/))) {
    const kind = m[1] !== undefined ? 'head' : 'mlp';
    const first = Number(m[1] ?? m[3] ?? m[4]);
    const last = Number(m[2] ?? m[1] ?? m[3] ?? m[5]);
    return (s) => {
      const node = graph.senders[s]!;
      return node.kind === kind && node.layer >= first && node.layer <= last ? 1 : 0;
    };
  }
  throw new Error(`no reference mask for ${name}`);
}

function logSoftmax(row: ArrayLike<number>): number[] {
  const max = Math.max(...Array.from(row));
  const lse = max + Math.log(Array.from(row).reduce((a, x) => a + Math.exp(x - max), 0));
  return Array.from(row, (x) => x - lse);
}

/**
 * Hand-written scores of the three metrics from a run's logits at every position ([T x V]) and the
 * clean run's: at each of the pair's metric targets, then their mean.
 */
export function scores(logits: Float64Array, cleanLogits: Float64Array, pair: PromptPair, V: number): Record<string, number> {
  const out: Record<string, number> = { prob: 0, 'logit-diff': 0, kl: 0 };
  for (const target of pair.targets) {
    const row = logits.subarray(target.position * V, (target.position + 1) * V);
    const lp = logSoftmax(row);
    const lc = logSoftmax(cleanLogits.subarray(target.position * V, (target.position + 1) * V));
    let kl = 0;
    lc.forEach((l, i) => (kl += Math.exp(l) * (l - lp[i]!)));
    out.prob! += Math.exp(lp[target.answer]!) / pair.targets.length;
    out['logit-diff']! += (row[target.answer]! - row[target.wrong!]!) / pair.targets.length;
    out.kl! += -kl / pair.targets.length;
  }
  return out;
}
