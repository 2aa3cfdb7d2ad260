// The vocabulary of the component graph (docs/design.md section 1), as small immutable types.
// Names follow EAP-IG's JSON so circuits interoperate: `a0.h1->a3.h2<q>`, `input->m0`, `m11->logits`.

export type QkvChannel = 'q' | 'k' | 'v';
export const QKV: readonly QkvChannel[] = ['q', 'k', 'v'];

/** A node that writes to the residual stream. */
export type Sender =
  | { readonly kind: 'input'; readonly index: number; readonly name: 'input' }
  | { readonly kind: 'head'; readonly index: number; readonly name: string; readonly layer: number; readonly head: number }
  | { readonly kind: 'mlp'; readonly index: number; readonly name: string; readonly layer: number };

/** A node that reads its own copy of the residual stream. */
export type Receiver =
  | {
      readonly kind: 'head-input';
      readonly index: number;
      readonly name: string;
      readonly layer: number;
      readonly head: number;
      readonly channel: QkvChannel;
    }
  | { readonly kind: 'mlp'; readonly index: number; readonly name: string; readonly layer: number }
  | { readonly kind: 'logits'; readonly index: number; readonly name: 'logits' };

export const headName = (layer: number, head: number): string => `a${layer}.h${head}`;
export const mlpName = (layer: number): string => `m${layer}`;
export const headInputName = (layer: number, head: number, ch: QkvChannel): string => `${headName(layer, head)}<${ch}>`;
export const edgeName = (sender: string, receiver: string): string => `${sender}->${receiver}`;

/**
 * Stage of a node in the residual stream: input is -1, attention of layer L is 2L, the MLP of layer
 * L is 2L + 1, logits 2 * nLayers. A sender feeds a receiver exactly when its stage is smaller.
 */
export function senderStage(s: Sender): number {
  if (s.kind === 'input') return -1;
  return s.kind === 'head' ? 2 * s.layer : 2 * s.layer + 1;
}

export function receiverStage(r: Receiver, nLayers: number): number {
  if (r.kind === 'logits') return 2 * nLayers;
  return r.kind === 'head-input' ? 2 * r.layer : 2 * r.layer + 1;
}
