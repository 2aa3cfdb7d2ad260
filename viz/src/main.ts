// The viewer's entry point: loads the index, draws the shell (header and tabs) and mounts the tab
// the URL names. Tabs re-mount when the URL changes from outside (Back, an edited link).
import { CircuitView } from './circuit-view.js';
import { CompareView } from './compare-view.js';
import { SiteData } from './data.js';
import { fill, h } from './dom.js';
import { liveStats, liveView, type ViewStats } from './graph-view.js';
import { PatchingView } from './patching-view.js';
import { StateStore, type Tab } from './state.js';
import type { View } from './view.js';

/** Hooks for the end-to-end tests (and curious users in the console). */
interface TestHooks {
  /** What each live canvas draws, counted from sigma's display data. */
  stats(): ViewStats[];
  /** Where a node of a canvas is drawn (pixels from the canvas's top left). */
  nodePosition(view: string, node: string): { x: number; y: number } | null;
  /** A canvas's camera (x, y, ratio, angle). */
  camera(view: string): { x: number; y: number; ratio: number; angle: number } | null;
  /** Node keys whose labels a canvas drew in its last frame. */
  labels(view: string): string[] | null;
  /** A canvas as the SVG download would save it. */
  svg(view: string): string | null;
}

declare global {
  interface Window {
    __patchwise?: TestHooks;
  }
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

const TABS: readonly { readonly tab: Tab; readonly label: string }[] = [
  { tab: 'circuit', label: 'Circuit' },
  { tab: 'compare', label: 'Compare' },
  { tab: 'patching', label: 'Patching' },
];

function setStatus(state: 'loading' | 'ready' | 'error'): void {
  document.documentElement.dataset.state = state;
}

async function start(): Promise<void> {
  const app = document.getElementById('app') ?? document.body;
  setStatus('loading');
  window.__patchwise = {
    stats: liveStats,
    nodePosition: (view, node) => liveView(view)?.nodePosition(node) ?? null,
    camera: (view) => liveView(view)?.sigma.getCamera().getState() ?? null,
    labels: (view) => liveView(view)?.drawnLabels() ?? null,
    svg: (view) => liveView(view)?.toSvg() ?? null,
  };
  let data: SiteData;
  try {
    data = await SiteData.load();
  } catch (e) {
    fill(app, h('p', { class: 'error' }, `Cannot load the data: ${(e as Error).message}`));
    setStatus('error');
    return;
  }
  const state = new StateStore();
  const tabButtons = TABS.map((t) => h('button', { class: 'tab', data: { tab: t.tab }, attrs: { type: 'button', role: 'tab' } }, t.label));
  const root = h('main', { id: 'view' });
  const idx = data.index;
  fill(
    app,
    h(
      'header',
      {},
      h('span', { class: 'brand' }, 'patchwise'),
      h('nav', { attrs: { role: 'tablist' } }, ...tabButtons),
      h('span', { class: 'source', title: `built ${idx.builtAt}` }, `${idx.source}: ${plural(idx.runs.length, 'run')}, ${plural(idx.circuits.length, 'circuit')}`),
    ),
    root,
  );

  let view: View | undefined;
  const show = (): void => {
    view?.dispose();
    const tab = state.get().tab;
    for (const b of tabButtons) {
      b.setAttribute('aria-selected', String(b.dataset.tab === tab));
      b.tabIndex = b.dataset.tab === tab ? 0 : -1;
    }
    root.replaceChildren();
    root.className = `tab-${tab}`;
    view = tab === 'compare' ? new CompareView(root, data, state) : tab === 'patching' ? new PatchingView(root, data, state) : new CircuitView(root, data, state);
    setStatus('loading');
    view.mount().then(
      () => setStatus('ready'),
      (e: unknown) => {
        fill(root, h('p', { class: 'error' }, `Cannot show this view: ${(e as Error).message}`));
        setStatus('error');
      },
    );
  };
  const go = (b: HTMLButtonElement): void => {
    state.update({ tab: b.dataset.tab as Tab }, true);
    show();
  };
  tabButtons.forEach((b, i) => {
    b.addEventListener('click', () => go(b));
    // Arrow keys move between tabs (WAI-ARIA tabs pattern); only the current tab is in the Tab order.
    b.addEventListener('keydown', (e) => {
      const d = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0;
      const target = e.key === 'Home' ? 0 : e.key === 'End' ? tabButtons.length - 1 : d !== 0 ? (i + d + tabButtons.length) % tabButtons.length : -1;
      if (target < 0) return;
      e.preventDefault();
      const next = tabButtons[target]!;
      next.focus();
      go(next);
    });
  });
  state.onExternalChange(show);
  show();
}

void start();
