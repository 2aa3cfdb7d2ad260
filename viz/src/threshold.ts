// The threshold slider of one circuit. Its scale is the number of top-scored edges kept (log
// scale, so small circuits get most of the travel); the value it reports and the URL records is the
// |score| threshold itself, the k-th largest |score|. "Stored" returns to the saved mask. Its label
// counts the edges drawn (after dead ends are pruned), the same number the view's stats show, and
// the arrow keys step to the next threshold that changes that number.
import { h } from './dom.js';
import { countAtLeast } from './edges.js';
import { fmt, fmtInt } from './text.js';

const STEPS = 1000;
/** Arrow keys look this many ranks ahead for a threshold that changes the drawn edges. */
const MAX_ARROW_SEARCH = 256;

export interface ThresholdControl {
  readonly element: HTMLElement;
  /** Positions the slider for a threshold (undefined = the stored mask) without firing onChange. */
  set(tau: number | undefined): void;
}

export function thresholdControl(
  id: string,
  magnitudes: Float32Array,
  storedSize: number,
  /** Edges drawn at a threshold (dead ends pruned); undefined = the stored mask. */
  drawnEdges: (tau: number | undefined) => number,
  onChange: (tau: number | undefined) => void,
): ThresholdControl {
  const n = magnitudes.length;
  const slider = h('input', {
    id,
    class: 'threshold',
    attrs: { type: 'range', min: 0, max: STEPS, step: 1, 'aria-label': 'threshold: edges kept by |score|', disabled: n === 0 },
  });
  const label = h('span', { class: 'threshold-label', data: { testid: `${id}-label` } });
  const stored = h('button', { class: 'stored', attrs: { type: 'button' }, title: 'back to the circuit as stored' }, 'stored');
  // Rank of the current threshold (k largest scores pass); the stored mask maps to its size.
  let rank = Math.max(1, storedSize);

  const kFromSlider = (v: number): number => (n <= 1 ? n : Math.max(1, Math.min(n, Math.round(Math.exp((v / STEPS) * Math.log(n))))));
  const sliderFromK = (k: number): number => (n <= 1 || k <= 1 ? 0 : Math.round((Math.log(k) / Math.log(n)) * STEPS));
  const tauOf = (k: number): number | undefined => (k === 0 ? undefined : magnitudes[k - 1]!);

  const show = (tau: number | undefined): void => {
    stored.disabled = tau === undefined;
    const drawn = drawnEdges(tau);
    label.dataset.edges = String(drawn);
    if (tau === undefined) {
      label.textContent = `stored mask: ${fmtInt(drawn)} edges`;
      label.title = '';
      return;
    }
    const passing = countAtLeast(magnitudes, tau);
    label.textContent = `|score| ≥ ${fmt(tau)}: ${fmtInt(drawn)} edges`;
    label.title = `${fmtInt(passing)} of ${fmtInt(n)} scored edges pass the threshold; ${fmtInt(passing - drawn)} of them are dead ends (not on an input → logits path) and are not drawn`;
  };
  const set = (tau: number | undefined): void => {
    rank = tau === undefined ? Math.max(1, storedSize) : countAtLeast(magnitudes, tau);
    slider.value = String(sliderFromK(rank));
    show(tau);
  };
  // The view re-cuts first, so the label reads the count of the cut it just drew (one cut, not two).
  const go = (k: number): void => {
    rank = k;
    const tau = tauOf(k);
    onChange(tau);
    show(tau);
  };
  slider.addEventListener('input', () => {
    const k = kFromSlider(Number(slider.value));
    rank = k;
    go(k);
  });
  // Arrows: one step = the next threshold that changes the drawn edges (the log scale alone would
  // need many presses per edge among the top few).
  slider.addEventListener('keydown', (e) => {
    const d = e.key === 'ArrowRight' || e.key === 'ArrowUp' ? 1 : e.key === 'ArrowLeft' || e.key === 'ArrowDown' ? -1 : 0;
    if (d === 0 || n === 0) return;
    e.preventDefault();
    const before = drawnEdges(tauOf(rank));
    let k = rank;
    for (let i = 0; i < MAX_ARROW_SEARCH; i++) {
      const next = k + d;
      if (next < 1 || next > n) break;
      k = next;
      // Ties: skip ranks with the same threshold.
      while (k + d >= 1 && k + d <= n && magnitudes[k + d - 1] === magnitudes[k - 1]) k += d;
      if (drawnEdges(tauOf(k)) !== before) break;
    }
    if (k === rank) return;
    slider.value = String(sliderFromK(k));
    go(k);
  });
  stored.addEventListener('click', () => {
    set(undefined);
    onChange(undefined);
  });
  const element = h('div', { class: 'threshold-control' }, h('label', { attrs: { for: id } }, 'threshold'), slider, label, stored);
  return { element, set };
}
