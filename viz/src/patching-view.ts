// The patching tab: node-level effects as heatmaps (layer x head, layer x position), one per
// corruption (rows) and metric (columns) side by side, detected components outlined, in a diverging
// palette; path-patching runs as sender x receiver-set heatmaps; sliding-window effects against
// summed single-layer effects; and the stored
// faithfulness-against-size and ROC curves of the pipeline.
import { MIB_FRACTIONS, mibAreas, trapezoidAuc } from '../../src/evaluation/measures.js';
import type { VizCurve, VizIndex, VizRunEffects, VizRunInfo } from '../../src/viz-export/format.js';
import { colorBar, heatmap, lineChart } from './charts.js';
import type { SiteData } from './data.js';
import { fill, h, option, select } from './dom.js';
import { cellKey, familiesOf, familyGrid, familyPositions, hasSingles, windowCurve, type Family } from './effects.js';
import { series } from './palette.js';
import { promptTokens, tokenLabel } from './tokens.js';
import type { StateStore, ViewState } from './state.js';
import { agreementLine, curveCircuit, curveLabel, fmt, runLabel } from './text.js';
import type { View } from './view.js';

const distinct = <T>(xs: readonly T[]): T[] => [...new Set(xs)];

/** Column label of a position: the index, and the roles (IO, S2, ...) that sit there. */
/** Column label of a position in a per-position map: its token (when known) and roles. */
function tokenColumnLabel(run: VizRunInfo, p: number, tokens: readonly string[] | null): string {
  const roles = Object.entries(run.roles)
    .filter(([, v]) => v === p)
    .map(([k]) => k);
  const tok = tokens?.[p];
  return [tok !== undefined ? tokenLabel(tok) : String(p), roles.length > 0 ? roles.join('/') : null].filter(Boolean).join(' ');
}

function positionLabel(run: VizRunInfo, p: number): string {
  const roles = Object.entries(run.roles)
    .filter(([, v]) => v === p)
    .map(([k]) => k);
  return roles.length > 0 ? `${p} ${roles.join('/')}` : String(p);
}

/** What a metric's effects are measured in (colour bars say it). */
export function metricUnit(metric: string | null): string {
  switch (metric) {
    case 'prob':
    case 'prob-diff':
      return 'effect: Δ probability';
    case 'logit-diff':
      return 'effect: normalised logit difference (1 = clean, 0 = corrupted)';
    case 'kl':
      return 'effect: Δ KL divergence (nats)';
    default:
      return metric === null ? 'effect (metric not recorded)' : `effect: Δ ${metric}`;
  }
}

function curveMethod(index: VizIndex, cv: VizCurve): string {
  return curveCircuit(index, cv, true)?.method ?? 'method not recorded';
}

/**
 * CPR and CMD of a faithfulness curve (MIB's circuit performance ratio and circuit-model
 * difference): areas under f and under |1 - f| over the fraction of the graph's edges kept, by
 * trapezoids between the stored points. Undefined with fewer than two distinct sizes.
 */
export function faithfulnessAreas(points: readonly (readonly [number, number])[], nEdges: number): { cpr: number; cmd: number } | undefined {
  const pts = [...points].filter((p) => Number.isFinite(p[0]) && Number.isFinite(p[1])).sort((a, b) => a[0] - b[0]);
  if (pts.length < 2 || pts[0]![0] === pts[pts.length - 1]![0] || nEdges <= 0) return undefined;
  let cpr = 0;
  let cmd = 0;
  for (let i = 1; i < pts.length; i++) {
    const dx = (pts[i]![0] - pts[i - 1]![0]) / nEdges;
    cpr += (dx * (pts[i]![1] + pts[i - 1]![1])) / 2;
    cmd += (dx * (Math.abs(1 - pts[i]![1]) + Math.abs(1 - pts[i - 1]![1]))) / 2;
  }
  return { cpr, cmd };
}

/**
 * CPR and CMD stored by a discovery run with `mib: true` (curves 'mib-cpr' and 'mib-cmd' per
 * circuit, sampled at MIB's fractions), integrated as MIB does. Undefined when the run stored
 * none, or when its circuits' scores differ (ACDC: one pair per tau, not one per run).
 */
export function storedMibAreas(curves: readonly VizCurve[], runId: number | null): { cpr: number; cmd: number } | undefined {
  if (runId === null) return undefined;
  const areasOf = (kind: string, pick: 'under' | 'fromOne'): number[] =>
    curves
      .filter((c) => c.runId === runId && c.kind === kind && c.faithfulness.length === MIB_FRACTIONS.length && c.faithfulness.every((f) => f !== null))
      .map(
        (c) =>
          mibAreas(
            c.threshold.map((t) => t ?? NaN),
            c.faithfulness as number[],
          )[pick],
      );
  const cpr = distinct(areasOf('mib-cpr', 'under'));
  const cmd = distinct(areasOf('mib-cmd', 'fromOne'));
  return cpr.length === 1 && cmd.length === 1 ? { cpr: cpr[0]!, cmd: cmd[0]! } : undefined;
}

export class PatchingView implements View {
  private generation = 0;

  constructor(
    private readonly root: HTMLElement,
    private readonly data: SiteData,
    private readonly state: StateStore,
  ) {}

  async mount(): Promise<void> {
    const gen = this.generation;
    const runs = this.data.index.runs;
    const curvesOnly = runs.length === 0;
    if (curvesOnly && this.data.index.curves.length === 0) {
      fill(this.root, h('p', { class: 'empty' }, 'This database has no patching runs.'));
      return;
    }
    const st = this.state.get();
    const pipelines = distinct([...runs.map((r) => r.pipeline), ...this.data.index.curves.map((c) => c.pipeline)]);
    const pipeline = pipelines.includes(st.pipeline ?? '') ? st.pipeline! : pipelines[0]!;
    const inPipeline = runs.filter((r) => r.pipeline === pipeline);
    const models = distinct(inPipeline.map((r) => r.modelFingerprint));
    const model = models.includes(st.model ?? '') ? st.model! : models[0];
    const ofModel = inPipeline.filter((r) => r.modelFingerprint === model);
    const dirs = distinct(ofModel.map((r) => r.direction ?? '-'));
    const dir = dirs.includes(st.dir ?? '') ? st.dir! : dirs[0];
    const selected = ofModel.filter((r) => (r.direction ?? '-') === dir);

    const set = (patch: Partial<ViewState>): void => {
      this.state.update(patch, true);
      this.remount();
    };
    const controls = h(
      'div',
      { class: 'toolbar' },
      h(
        'label',
        {},
        'pipeline ',
        select(
          pipelines.map((p) => option(p, p, p === pipeline)),
          (v) => set({ pipeline: v, model: undefined, dir: undefined, fam: undefined, pos: undefined, wpos: undefined }),
          { id: 'patching-pipeline' },
        ),
      ),
      models.length > 1
        ? h(
            'label',
            {},
            'model ',
            select(
              models.map((m) => option(m, `${inPipeline.find((r) => r.modelFingerprint === m)!.model} (${m.slice(0, 8)})`, m === model)),
              (v) => set({ model: v, fam: undefined }),
              { id: 'patching-model' },
            ),
          )
        : null,
      dirs.length > 0
        ? h(
            'label',
            {},
            'direction ',
            select(
              dirs.map((d) => option(d, d, d === dir)),
              (v) => set({ dir: v, fam: undefined }),
              { id: 'patching-direction' },
            ),
          )
        : null,
    );
    const heatBox = h('section', { class: 'heatmaps' }, h('p', { class: 'hint' }, 'loading effects…'));
    const pathBox = h('section', { class: 'path-heatmaps' });
    const windowBox = h('section', { class: 'windows' });
    const curveBox = h('section', { class: 'curves' });
    const promptBox = h('section', { class: 'prompts' });
    fill(this.root, controls, heatBox, pathBox, windowBox, curveBox, promptBox);
    this.drawCurves(curveBox, pipeline);
    this.drawPrompts(promptBox, selected[0]);

    const effects = new Map<number, VizRunEffects>();
    await Promise.all(selected.map(async (r) => effects.set(r.id, await this.data.runEffects(r.id))));
    if (gen !== this.generation) return;

    // Path-patching runs (one effect per sender into a receiver set) get their own heatmaps.
    const nodeRuns = selected.filter((r) => r.receivers === null);
    this.drawPaths(
      pathBox,
      selected.filter((r) => r.receivers !== null),
      effects,
    );
    // Families present in these runs, heads first.
    const families = new Map<string, Family>();
    for (const r of nodeRuns) for (const f of familiesOf(effects.get(r.id)!)) families.set(f.key, f);
    const famList = [...families.values()].sort((a, b) => Number(b.byHead) - Number(a.byHead) || a.key.localeCompare(b.key));
    const fam = families.get(st.fam ?? '') ?? famList[0];
    if (!fam) {
      fill(heatBox, ...(nodeRuns.length === 0 && selected.length > 0 ? [] : [h('p', { class: 'hint' }, 'No node-level effects stored for these runs.')]));
    } else {
      controls.append(
        h(
          'label',
          {},
          'components ',
          select(
            famList.map((f) => option(f.key, f.label, f.key === fam.key)),
            (v) => set({ fam: v, pos: undefined }),
            { id: 'patching-family' },
          ),
        ),
      );
      this.drawHeatmaps(heatBox, controls, nodeRuns, effects, fam, st.pos);
    }
    void this.drawWindows(windowBox, nodeRuns, ofModel, effects, st.wpos, gen);
  }

  /** Path patching: one sender x receiver-set heatmap per (corruption, metric), each set one run. */
  private drawPaths(box: HTMLElement, runs: readonly VizRunInfo[], effects: ReadonlyMap<number, VizRunEffects>): void {
    if (runs.length === 0) {
      fill(box);
      return;
    }
    const groups = new Map<string, VizRunInfo[]>();
    for (const r of runs) {
      const k = `corruption: ${r.corruption ?? '-'} · metric: ${r.metric ?? '-'}`;
      groups.set(k, [...(groups.get(k) ?? []), r]);
    }
    const cards: HTMLElement[] = [];
    for (const [title, group] of groups) {
      const sets = distinct(group.map((r) => r.receiverSet ?? '-'));
      // Senders in the graph's order (input, then each layer's heads before its MLP), the union over the sets.
      const order = new Map<string, [number, number]>();
      const value = new Map<string, { mean: number; std: number; n: number }>();
      for (const r of group) {
        const e = effects.get(r.id)!;
        e.component.forEach((c, i) => {
          order.set(c, c === 'input' ? [-1, 0] : [e.layer[i]!, e.head[i] ?? Infinity]);
          value.set(`${c}|${r.receiverSet ?? '-'}`, { mean: e.mean[i]!, std: e.std[i]!, n: e.n[i]! });
        });
      }
      const senders = [...order.keys()].sort((a, b) => order.get(a)![0] - order.get(b)![0] || order.get(a)![1] - order.get(b)![1]);
      const max = Math.max(0, ...[...value.values()].map((v) => Math.abs(v.mean)));
      const at = (row: number, col: number) => value.get(`${senders[row]}|${sets[col]}`);
      const svg = heatmap({
        rows: senders.length,
        cols: sets.length,
        value: (row, col) => at(row, col)?.mean,
        rowLabel: (row) => senders[row]!,
        colLabel: (col) => sets[col]!,
        rowTitle: 'sender',
        colTitle: 'receiver set',
        slantColLabels: true,
        outlined: () => false,
        cellTitle: (row, col) => {
          const v = at(row, col);
          return v === undefined ? `${senders[row]} -> ${sets[col]}: no path` : `${senders[row]} -> ${sets[col]}: ${fmt(v.mean, 4)} ± ${fmt(v.std)} (n = ${v.n})`;
        },
        max,
        showValues: this.state.get().vals === true,
      });
      cards.push(
        h(
          'div',
          { class: 'card', data: { testid: 'path-heatmap', runs: group.map((r) => r.id).join(','), max } },
          h('div', { class: 'card-title' }, `path patching · ${title}`),
          svg,
          colorBar(max, metricUnit(group[0]!.metric)),
        ),
      );
    }
    fill(
      box,
      h('h3', {}, "Path patching: each sender's path into each receiver set"),
      h('p', { class: 'hint' }, 'Rows are senders, columns receiver sets (one run each); blue raises the metric, red lowers it; grey: the sender feeds none of the set.'),
      h('div', { class: 'heat-scroll heat-grid' }, ...cards),
    );
  }

  private drawHeatmaps(box: HTMLElement, controls: HTMLElement, runs: readonly VizRunInfo[], effects: ReadonlyMap<number, VizRunEffects>, fam: Family, pos: number | undefined): void {
    const withFam = runs.filter((r) => {
      const e = effects.get(r.id)!;
      return familiesOf(e).some((f) => f.key === fam.key);
    });
    let position = pos;
    if (fam.needsPosition) {
      const positions = distinct(withFam.flatMap((r) => familyPositions(effects.get(r.id)!, fam.kind))).sort((a, b) => a - b);
      if (position === undefined || !positions.includes(position)) position = positions[positions.length - 1];
      const first = withFam[0];
      controls.append(
        h(
          'label',
          {},
          'position ',
          select(
            positions.map((p) => option(p, first ? positionLabel(first, p) : String(p), p === position)),
            (v) => {
              this.state.update({ pos: Number(v) });
              this.remount();
            },
            { id: 'patching-position' },
          ),
        ),
      );
    }
    // One run per (metric, corruption): a run whose own window matches the family first. AtP runs
    // get columns of their own beside the exact ones (same corruption, marked AtP).
    const column = (r: VizRunInfo): string => `${r.corruption ?? '-'}${r.method === 'attribution' ? ' (AtP)' : ''}`;
    const corruptions = distinct(withFam.map(column));
    const metrics = distinct(withFam.map((r) => r.metric ?? '-'));
    const pickRun = (c: string, m: string): VizRunInfo | undefined => {
      const cands = withFam.filter((r) => column(r) === c && (r.metric ?? '-') === m);
      return cands.find((r) => (r.window ?? 1) === fam.window) ?? cands[0];
    };
    const st = this.state.get();
    const shared = st.scale === 'row';
    const showValues = st.vals === true;
    const scaleBox = h('input', { id: 'shared-scale', attrs: { type: 'checkbox', checked: shared } });
    scaleBox.addEventListener('change', () => {
      this.state.update({ scale: scaleBox.checked ? 'row' : undefined });
      this.remount();
    });
    const valuesBox = h('input', { id: 'show-values', attrs: { type: 'checkbox', checked: showValues } });
    valuesBox.addEventListener('change', () => {
      this.state.update({ vals: valuesBox.checked || undefined });
      this.remount();
    });
    // Rows are metrics (one unit per row), columns corruptions: a shared row scale compares like with like.
    const grids = new Map<string, { run: VizRunInfo; g: ReturnType<typeof familyGrid> }>();
    for (const m of metrics)
      for (const c of corruptions) {
        const run = pickRun(c, m);
        if (run) grids.set(`${m}|${c}`, { run, g: familyGrid(effects.get(run.id)!, fam, position) });
      }
    const rowMax = new Map(metrics.map((m) => [m, Math.max(0, ...corruptions.map((c) => grids.get(`${m}|${c}`)?.g.maxAbs ?? 0))]));
    const grid = h('div', { class: 'heat-grid' });
    grid.style.gridTemplateColumns = `max-content repeat(${corruptions.length}, max-content)`;
    grid.append(h('div', {}), ...corruptions.map((c) => h('div', { class: 'grid-head' }, `corruption: ${c}`)));
    for (const m of metrics) {
      grid.append(h('div', { class: 'grid-head row-head' }, `metric: ${m}`));
      for (const c of corruptions) {
        const entry = grids.get(`${m}|${c}`);
        if (!entry) {
          grid.append(h('div', { class: 'card empty-card' }, 'no run'));
          continue;
        }
        const { run, g } = entry;
        const max = shared ? rowMax.get(m)! : g.maxAbs;
        // Per-position maps: x = token position labelled with the first prompt's tokens, y = layer upwards.
        const tokens = fam.byHead ? null : promptTokens(run.prompts[0]?.clean ?? '', g.cols);
        const cell = (r: number, col: number) => g.values.get(cellKey(r, col));
        const svg = heatmap({
          rows: g.rows,
          cols: g.cols,
          value: (r, col) => cell(r, col)?.mean,
          rowLabel: (r) => String(r),
          colLabel: (col) => (fam.byHead ? String(col) : tokenColumnLabel(run, col, tokens)),
          rowTitle: fam.window > 1 ? `first layer (window ${fam.window})` : 'layer',
          layersUp: !fam.byHead,
          slantColLabels: !fam.byHead,
          colTitle: fam.byHead ? 'head' : tokens ? 'token (first prompt)' : 'position',
          outlined: (r, col) => g.detected.has(cellKey(r, col)),
          cellTitle: (r, col) => {
            const v = cell(r, col);
            return v === undefined ? `layer ${r}, ${fam.byHead ? 'head' : 'position'} ${col}: no value` : `${v.component}: ${fmt(v.mean, 4)} ± ${fmt(v.std)} (n = ${v.n})`;
          },
          max,
          showValues,
        });
        grid.append(
          h(
            'div',
            { class: 'card', data: { testid: 'heatmap', run: run.id, detected: g.detected.size, max } },
            h('div', { class: 'card-title' }, runLabel(run)),
            h(
              'div',
              { class: 'card-sub' },
              run.baselines ? `clean ${fmt(run.baselines.clean)} · corrupted ${fmt(run.baselines.corrupted)} · ${g.detected.size} detected` : `${g.detected.size} detected`,
            ),
            run.agreement ? h('div', { class: 'card-sub', data: { testid: 'atp-agreement' } }, agreementLine(run.agreement)) : null,
            svg,
            colorBar(max, metricUnit(run.metric)),
          ),
        );
      }
    }
    fill(
      box,
      h('h3', {}, `Node-level effects: ${fam.label}${position !== undefined ? ` at position ${position}` : ''}`),
      h('div', { class: 'toolbar' }, h('label', {}, scaleBox, ' one colour scale per row (metric)'), h('label', {}, valuesBox, ' print values in cells')),
      h('p', { class: 'hint' }, `Blue raises the metric, red lowers it (${shared ? 'one symmetric scale per row' : 'each map on its own symmetric scale'}); outlined cells are detected components.`),
      h('div', { class: 'heat-scroll' }, grid),
    );
  }

  private async drawWindows(
    box: HTMLElement,
    runs: readonly VizRunInfo[],
    siblings: readonly VizRunInfo[],
    effects: ReadonlyMap<number, VizRunEffects>,
    wpos: number | undefined,
    gen: number,
  ): Promise<void> {
    const windowed = runs.filter((r) => (r.window ?? 1) > 1 && (r.granularity === 'attn' || r.granularity === 'mlp'));
    if (windowed.length === 0) {
      fill(box);
      return;
    }
    const charts: HTMLElement[] = [];
    let positions: number[] = [];
    const prepared: { run: VizRunInfo; e: VizRunEffects; singles: VizRunEffects }[] = [];
    for (const run of windowed) {
      const e = effects.get(run.id)!;
      let singles = e;
      if (!hasSingles(e, run.granularity!)) {
        // Single layers from the sibling run with the same settings and window 1, when the run itself has none.
        const sib = siblings.find((s) => s.granularity === run.granularity && s.window === 1 && s.corruption === run.corruption && s.metric === run.metric && s.direction === run.direction);
        if (sib) singles = await this.data.runEffects(sib.id);
      }
      if (gen !== this.generation) return;
      prepared.push({ run, e, singles });
      positions = distinct([...positions, ...familyPositions(e, run.granularity!)]);
    }
    positions.sort((a, b) => a - b);
    // Default: the position where windows move the metric most.
    let position = wpos !== undefined && positions.includes(wpos) ? wpos : undefined;
    if (position === undefined) {
      let best = -1;
      for (const p of positions) {
        for (const { run, e, singles } of prepared) {
          for (const v of windowCurve(e, singles, run.granularity!, run.window!, p).window) {
            if (v !== undefined && Math.abs(v) > best) {
              best = Math.abs(v);
              position = p;
            }
          }
        }
      }
    }
    for (const { run, e, singles } of prepared) {
      const wc = windowCurve(e, singles, run.granularity!, run.window!, position ?? 0);
      charts.push(
        h(
          'div',
          { class: 'card', data: { testid: 'window-chart' } },
          h('div', { class: 'card-title' }, runLabel(run)),
          lineChart({
            width: 360,
            height: 220,
            xLabel: `first layer of the window (${run.window} layers)`,
            integerX: true,
            yLabel: 'effect',
            series: [
              { label: `${run.granularity} window of ${run.window}`, color: series(0), points: wc.layers.flatMap((L, i) => (wc.window[i] === undefined ? [] : [[L, wc.window[i]!] as const])) },
              { label: 'sum of single layers', color: series(1), dashed: true, points: wc.layers.flatMap((L, i) => (wc.summed[i] === undefined ? [] : [[L, wc.summed[i]!] as const])) },
            ],
          }),
        ),
      );
    }
    const first = prepared[0]!.run;
    const picker = select(
      positions.map((p) => option(p, positionLabel(first, p), p === position)),
      (v) => {
        this.state.update({ wpos: Number(v) });
        this.remount();
      },
      { id: 'window-position' },
    );
    fill(box, h('h3', {}, 'Sliding windows against summed single layers'), h('label', {}, 'position ', picker), h('div', { class: 'cards' }, ...charts));
  }

  private drawCurves(box: HTMLElement, pipeline: string): void {
    const curves = this.data.index.curves.filter((c) => c.pipeline === pipeline);
    const faith = curves.filter((c) => c.kind === 'faithfulness');
    const roc = curves.filter((c) => c.kind === 'roc');
    if (faith.length === 0 && roc.length === 0) {
      fill(box);
      return;
    }
    const cards: HTMLElement[] = [];
    const methods = distinct(faith.map((cv) => curveMethod(this.data.index, cv)));
    if (faith.length > 0) {
      cards.push(
        h(
          'div',
          { class: 'card', data: { testid: 'faithfulness-chart' } },
          h('div', { class: 'card-title' }, 'Faithfulness against circuit size'),
          lineChart({
            width: 420,
            height: 260,
            xLabel: 'edges in circuit',
            yLabel: 'faithfulness',
            logX: true,
            // One colour per method, so methods compare at a glance; the legend names each curve.
            series: faith.map((cv) => {
              const points = cv.size.flatMap((sz, j) => (sz !== null && cv.faithfulness[j] != null ? [[sz, cv.faithfulness[j]!] as const] : []));
              const nEdges = curveCircuit(this.data.index, cv, true)?.nEdges;
              const areas = storedMibAreas(curves, cv.runId) ?? (nEdges !== undefined ? faithfulnessAreas(points, nEdges) : undefined);
              const method = curveMethod(this.data.index, cv);
              return {
                label: `${curveLabel(this.data.index, cv)}${areas ? ` (CPR ${fmt(areas.cpr)}, CMD ${fmt(areas.cmd)})` : ''}`,
                color: series(methods.indexOf(method)),
                dashed: faith.filter((o) => curveMethod(this.data.index, o) === method).indexOf(cv) % 2 === 1,
                points,
              };
            }),
          }),
          h(
            'p',
            { class: 'hint' },
            'CPR: area under faithfulness, CMD: area under |1 − faithfulness|, both over the fraction of edges kept; from the MIB evaluation (0.1 %..100 % of edges ranked by score) where the run stored one, else trapezoids between the stored points. Higher CPR and lower CMD are better.',
          ),
        ),
      );
    }
    if (roc.length > 0) {
      cards.push(
        h(
          'div',
          { class: 'card', data: { testid: 'roc-chart' } },
          h('div', { class: 'card-title' }, 'ROC against the ground-truth circuit'),
          lineChart({
            width: 320,
            height: 280,
            xLabel: 'false positive rate',
            yLabel: 'true positive rate',
            xDomain: [0, 1],
            yDomain: [0, 1],
            diagonal: true,
            series: roc.map((cv, i) => {
              const points = cv.fpr.flatMap((x, j) => (x != null && cv.tpr[j] != null ? [[x, cv.tpr[j]!] as const] : [])).sort((p, q) => p[0] - q[0] || p[1] - q[1]);
              return { label: `${curveLabel(this.data.index, cv)} (AUC ${fmt(trapezoidAuc(points.map(([fpr, tpr]) => ({ fpr, tpr }))))})`, color: series(i), points };
            }),
          }),
        ),
      );
    }
    fill(box, h('h3', {}, 'Circuit curves'), h('div', { class: 'cards' }, ...cards));
  }

  private drawPrompts(box: HTMLElement, run: VizRunInfo | undefined): void {
    if (!run || run.prompts.length === 0) {
      fill(box);
      return;
    }
    fill(
      box,
      h('h3', {}, `Prompts (task ${run.task}, model ${run.model}${run.nPairs !== null ? `, ${run.nPairs} pairs` : ''})`),
      h('table', { class: 'prompt-table' }, h('tr', {}, h('th', {}, 'clean'), h('th', {}, 'corrupted')), ...run.prompts.map((p) => h('tr', {}, h('td', {}, p.clean), h('td', {}, p.corrupted)))),
    );
  }

  private remount(): void {
    this.dispose();
    void this.mount();
  }

  dispose(): void {
    this.generation++;
  }
}
