// The threshold slider of one circuit. Its scale is the number of top-scored edges kept (log
// scale, so small circuits get most of the travel); the value it reports and the URL records is the
// |score| threshold itself, the k-th largest |score|. "Stored" returns to the saved mask.
import { h } from './dom.js';
import { countAtLeast } from './edges.js';
import { fmt, fmtInt } from './text.js';

const STEPS = 1000;

export interface ThresholdControl {
  readonly element: HTMLElement;
  /** Positions the slider for a threshold (undefined = the stored mask) without firing onChange. */
  set(tau: number | undefined): void;
}

export function thresholdControl(
  id: string,
  magnitudes: Float32Array,
  storedSize: number,
  onChange: (tau: number | undefined) => void,
): ThresholdControl {
  const n = magnitudes.length;
  const slider = h('input', {
    id,
    class: 'threshold',
    attrs: { type: 'range', min: 0, max: STEPS, step: 1, 'aria-label': 'threshold: edges kept by |score|', disabled: n === 0 },
  });
  const label = h('span', { class: 'threshold-label' });
  const stored = h('button', { attrs: { type: 'button' }, title: 'back to the circuit as stored' }, 'stored');

  const kFromSlider = (v: number): number => (n <= 1 ? n : Math.max(1, Math.min(n, Math.round(Math.exp((v / STEPS) * Math.log(n))))));
  const sliderFromK = (k: number): number => (n <= 1 || k <= 1 ? 0 : Math.round((Math.log(k) / Math.log(n)) * STEPS));

  const show = (tau: number | undefined): void => {
    stored.disabled = tau === undefined;
    label.textContent = tau === undefined ? 'stored mask' : `|score| ≥ ${fmt(tau)} (${fmtInt(countAtLeast(magnitudes, tau))} of ${fmtInt(n)} scored)`;
  };
  const set = (tau: number | undefined): void => {
    slider.value = String(sliderFromK(tau === undefined ? Math.max(1, storedSize) : countAtLeast(magnitudes, tau)));
    show(tau);
  };
  slider.addEventListener('input', () => {
    const k = kFromSlider(Number(slider.value));
    const tau = k === 0 ? undefined : magnitudes[k - 1]!;
    show(tau);
    onChange(tau);
  });
  stored.addEventListener('click', () => {
    set(undefined);
    onChange(undefined);
  });
  const element = h('div', { class: 'threshold-control' }, h('label', { attrs: { for: id } }, 'threshold'), slider, label, stored);
  return { element, set };
}
