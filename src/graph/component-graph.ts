// The sender/receiver DAG of a residual-stream transformer. Senders are ordered by stage, so the
// senders that feed any receiver are a prefix of the sender list: the runtime relies on that.
import type { ModelConfig } from '../model/types.js';
import { QKV, type QkvChannel, type Receiver, type Sender, edgeName, headInputName, headName, mlpName, receiverStage, senderStage } from './nodes.js';

export interface GraphShape {
  readonly nLayers: number;
  readonly nHeads: number;
}

export interface Edge {
  readonly sender: number;
  readonly receiver: number;
}

export class ComponentGraph {
  readonly nLayers: number;
  readonly nHeads: number;
  readonly senders: readonly Sender[];
  readonly receivers: readonly Receiver[];
  /** For each receiver, how many senders (a prefix of `senders`) feed it. */
  readonly fanIn: readonly number[];
  readonly nEdges: number;
  private readonly senderByName: ReadonlyMap<string, number>;
  private readonly receiverByName: ReadonlyMap<string, number>;

  constructor(shape: GraphShape) {
    const { nLayers, nHeads } = shape;
    if (!(nLayers > 0 && nHeads > 0)) throw new Error(`graph needs nLayers and nHeads > 0, got ${nLayers}, ${nHeads}`);
    this.nLayers = nLayers;
    this.nHeads = nHeads;
    const senders: Sender[] = [{ kind: 'input', index: 0, name: 'input' }];
    const receivers: Receiver[] = [];
    for (let layer = 0; layer < nLayers; layer++) {
      for (let head = 0; head < nHeads; head++) {
        senders.push({ kind: 'head', index: senders.length, name: headName(layer, head), layer, head });
        for (const channel of QKV) {
          receivers.push({ kind: 'head-input', index: receivers.length, name: headInputName(layer, head, channel), layer, head, channel });
        }
      }
      senders.push({ kind: 'mlp', index: senders.length, name: mlpName(layer), layer });
      receivers.push({ kind: 'mlp', index: receivers.length, name: mlpName(layer), layer });
    }
    receivers.push({ kind: 'logits', index: receivers.length, name: 'logits' });
    this.senders = senders;
    this.receivers = receivers;
    this.fanIn = receivers.map((r) => senders.filter((s) => senderStage(s) < receiverStage(r, nLayers)).length);
    this.nEdges = this.fanIn.reduce((a, b) => a + b, 0);
    this.senderByName = new Map(senders.map((s) => [s.name, s.index]));
    this.receiverByName = new Map(receivers.map((r) => [r.name, r.index]));
  }

  static forModel(cfg: Pick<ModelConfig, 'nLayers' | 'nHeads'>): ComponentGraph {
    return new ComponentGraph({ nLayers: cfg.nLayers, nHeads: cfg.nHeads });
  }

  get nSenders(): number {
    return this.senders.length;
  }

  get nReceivers(): number {
    return this.receivers.length;
  }

  hasEdge(sender: number, receiver: number): boolean {
    return receiver >= 0 && receiver < this.receivers.length && sender >= 0 && sender < this.fanIn[receiver]!;
  }

  senderIndex(name: string): number {
    const i = this.senderByName.get(name);
    if (i === undefined) throw new Error(`unknown sender "${name}" (expected input, aL.hH or mL within ${this.nLayers} layers x ${this.nHeads} heads)`);
    return i;
  }

  receiverIndex(name: string): number {
    const i = this.receiverByName.get(name);
    if (i === undefined) throw new Error(`unknown receiver "${name}" (expected aL.hH<q|k|v>, mL or logits within ${this.nLayers} layers x ${this.nHeads} heads)`);
    return i;
  }

  headSender(layer: number, head: number): number {
    return 1 + layer * (this.nHeads + 1) + head;
  }

  mlpSender(layer: number): number {
    return 1 + layer * (this.nHeads + 1) + this.nHeads;
  }

  /** First sender index of layer `layer` (equals the number of senders before it). */
  layerSenderStart(layer: number): number {
    return 1 + layer * (this.nHeads + 1);
  }

  /** Senders before layer `layer`; for layer = nLayers, every sender (what feeds the logits). */
  layerSenderStartOrEnd(layer: number): number {
    return layer >= this.nLayers ? this.nSenders : this.layerSenderStart(layer);
  }

  headInputReceiver(layer: number, head: number, channel: QkvChannel): number {
    return layer * (3 * this.nHeads + 1) + 3 * head + QKV.indexOf(channel);
  }

  mlpReceiver(layer: number): number {
    return layer * (3 * this.nHeads + 1) + 3 * this.nHeads;
  }

  /** First receiver index of layer `layer`; its 3H head inputs are contiguous, head-major, q/k/v. */
  layerReceiverStart(layer: number): number {
    return layer * (3 * this.nHeads + 1);
  }

  get logitsReceiver(): number {
    return this.receivers.length - 1;
  }

  /** Layer a receiver belongs to (logits: nLayers). */
  receiverLayer(receiver: number): number {
    const r = this.receivers[receiver]!;
    return r.kind === 'logits' ? this.nLayers : r.layer;
  }

  edgeName(e: Edge): string {
    return edgeName(this.senders[e.sender]!.name, this.receivers[e.receiver]!.name);
  }

  parseEdge(name: string): Edge {
    const parts = name.split('->');
    if (parts.length !== 2) throw new Error(`edge "${name}" is not of the form sender->receiver`);
    const sender = this.senderIndex(parts[0]!);
    const receiver = this.receiverIndex(parts[1]!);
    if (!this.hasEdge(sender, receiver)) throw new Error(`edge "${name}" does not exist: ${parts[0]} is not upstream of ${parts[1]}`);
    return { sender, receiver };
  }

  /** Every edge, receivers in forward order, senders in forward order within each receiver. */
  *edges(): Generator<Edge> {
    for (let r = 0; r < this.receivers.length; r++) {
      for (let s = 0; s < this.fanIn[r]!; s++) yield { sender: s, receiver: r };
    }
  }
}
