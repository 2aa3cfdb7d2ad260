// Zhang & Nanda's detection rule: a component is detected when its mean effect lies more than k
// standard deviations from the mean effect over all components of the same granularity and window.
// The sign is kept, so components that hurt the behaviour are detected too.

import type { ComponentEffect, Detection } from '../core/vocabulary.js';

export function detect(effects: readonly ComponentEffect[], k: number): Detection[] {
  const out: Detection[] = [];
  const byWindow = new Map<number, ComponentEffect[]>();
  for (const e of effects) byWindow.set(e.window, [...(byWindow.get(e.window) ?? []), e]);
  for (const group of byWindow.values()) {
    const mu = group.reduce((a, e) => a + e.mean, 0) / group.length;
    const sd = Math.sqrt(group.reduce((a, e) => a + (e.mean - mu) ** 2, 0) / group.length);
    if (!(sd > 0)) continue;
    for (const e of group) {
      const z = (e.mean - mu) / sd;
      if (Math.abs(z) > k) out.push({ ...e, zscore: z, sign: z > 0 ? 1 : -1 });
    }
  }
  return out.sort((a, b) => Math.abs(b.zscore) - Math.abs(a.zscore));
}
