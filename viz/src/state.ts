// The view state lives in the URL's hash (#tab=compare&a=3&b=5&ta=0.01), so every view can be
// shared as a link, and it works from file:// as well as from a server.
import { float32Text } from './text.js';

export type Tab = 'circuit' | 'compare' | 'patching';
const TABS: readonly Tab[] = ['circuit', 'compare', 'patching'];

export interface ViewState {
  readonly tab: Tab;
  /** Circuit tab: circuit id, threshold (undefined = the stored mask), selected node. */
  readonly c?: number;
  readonly t?: number;
  readonly node?: string;
  /** Circuit tab: also draw components outside the circuit. */
  readonly all?: boolean;
  /** Compare tab: the two circuits and their thresholds. */
  readonly a?: number;
  readonly b?: number;
  readonly ta?: number;
  readonly tb?: number;
  /** Patching tab: pipeline, model fingerprint, direction, heatmap family, positions. */
  readonly pipeline?: string;
  readonly model?: string;
  readonly dir?: string;
  readonly fam?: string;
  readonly pos?: number;
  readonly wpos?: number;
  /** Patching tab: 'row' = one colour scale per heatmap row; print values in cells. */
  readonly scale?: string;
  readonly vals?: boolean;
}

const INTS = ['c', 'a', 'b', 'pos', 'wpos'] as const;
const THRESHOLDS = ['t', 'ta', 'tb'] as const;
const STRINGS = ['node', 'pipeline', 'model', 'dir', 'fam', 'scale'] as const;

export function parseState(hash: string): ViewState {
  const q = new URLSearchParams(hash.replace(/^#/, ''));
  const tab = q.get('tab');
  const out: Record<string, unknown> = { tab: TABS.includes(tab as Tab) ? tab : 'circuit' };
  for (const k of INTS) {
    const v = q.get(k);
    if (v !== null && /^-?\d+$/.test(v)) out[k] = Number(v);
  }
  for (const k of THRESHOLDS) {
    const v = q.get(k);
    // Scores are float32: snapping the threshold to float32 makes |score| >= t exact.
    if (v !== null && v !== '' && Number.isFinite(Number(v)) && Number(v) >= 0) out[k] = Math.fround(Number(v));
  }
  for (const k of STRINGS) {
    const v = q.get(k);
    if (v !== null && v !== '') out[k] = v;
  }
  if (q.get('all') === '1') out.all = true;
  if (q.get('vals') === '1') out.vals = true;
  return out as unknown as ViewState;
}

export function formatState(s: ViewState): string {
  const q = new URLSearchParams();
  q.set('tab', s.tab);
  for (const k of INTS) if (s[k] !== undefined) q.set(k, String(s[k]));
  for (const k of THRESHOLDS) if (s[k] !== undefined) q.set(k, float32Text(s[k]));
  for (const k of STRINGS) if (s[k] !== undefined) q.set(k, s[k]);
  if (s.all) q.set('all', '1');
  if (s.vals) q.set('vals', '1');
  return `#${q.toString()}`;
}

type Listener = (s: ViewState) => void;

/** The current state, kept in sync with location.hash. */
export class StateStore {
  private state: ViewState;
  private readonly listeners: Listener[] = [];

  constructor() {
    this.state = parseState(location.hash);
    window.addEventListener('hashchange', () => {
      const next = parseState(location.hash);
      if (formatState(next) === formatState(this.state)) return;
      this.state = next;
      for (const l of this.listeners) l(next);
    });
  }

  get(): ViewState {
    return this.state;
  }

  onExternalChange(l: Listener): void {
    this.listeners.push(l);
  }

  /**
   * Merges `patch` into the state and writes the URL. `push` adds a history entry (tab and circuit
   * changes); slider moves replace the entry, so Back does not replay every step of a drag.
   */
  update(patch: Partial<ViewState>, push = false): ViewState {
    const merged: Record<string, unknown> = { ...this.state, ...patch };
    for (const k of Object.keys(merged)) if (merged[k] === undefined) delete merged[k];
    this.state = merged as unknown as ViewState;
    const hash = formatState(this.state);
    if (hash !== location.hash) {
      if (push) history.pushState(null, '', hash);
      else history.replaceState(null, '', hash);
    }
    return this.state;
  }
}
