// The built viewer in real Chromium (Debian's chromium, driven by playwright-core; WebGL through
// SwiftShader, so no GPU is needed): it opens from file:// and from `viz serve`, draws the known
// circuits with the right numbers of nodes and edges, compares them, re-cuts them with the slider,
// shows the patching heatmaps, renders the 32,491-edge gpt2-small-shaped graph, and shows markup in
// the data as text. Screenshots and load timings go to test-output/viz/.
//
// Skips, saying why, where /usr/bin/chromium is missing; PATCHWISE_REQUIRE_CHROMIUM=1 (CI) makes
// that a failure instead.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { serveSite } from '../../src/viz-export/serve.js';
import { buildSite, type BuildResult } from '../../src/viz-export/site.js';
import { agreementLine } from '../../viz/src/text.js';
import { HOSTILE_MODEL, HOSTILE_PROMPT, KL_EDGES, PATH_SENDERS, PATH_SETS, SMALL, writeAtpFixture, writeFixture, writePathFixture, writePlantedFixture, type Fixture } from './fixtures.js';

const CHROMIUM = process.env.PATCHWISE_CHROMIUM ?? '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available && process.env.PATCHWISE_REQUIRE_CHROMIUM === '1') {
  throw new Error(`PATCHWISE_REQUIRE_CHROMIUM=1 but ${CHROMIUM} is missing: install Debian's chromium package (apt-get install -y chromium)`);
}
const describeBrowser: typeof describe = available
  ? describe
  : (((name: string, ...rest: unknown[]) =>
      (describe.skip as (n: string, ...r: unknown[]) => void)(`${name} [skipped: ${CHROMIUM} not found; apt-get install -y chromium]`, ...rest)) as unknown as typeof describe);

const repoRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const SHOTS = join(repoRoot, 'test-output', 'viz');

/** Headless Chromium with WebGL on SwiftShader (no GPU), nothing reaching the network. */
// (playwright adds --headless and a fresh temporary --user-data-dir itself.)
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--use-angle=swiftshader',
  '--enable-unsafe-swiftshader',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

interface Stats {
  name: string;
  nodes: number;
  ports: number;
  edges: number;
  dense: boolean;
}

describeBrowser('the viewer in Chromium', () => {
  const dir = mkdtempSync(join(tmpdir(), 'patchwise-viz-e2e-'));
  const db = join(dir, 'results.db');
  const site = join(dir, 'site');
  let fx: Fixture;
  let built: BuildResult;
  let browser: Browser;
  let page: Page;
  const errors: string[] = [];
  const bench: Record<string, number | string> = {};
  const url = (hash: string): string => `${pathToFileURL(join(site, 'index.html')).href}#${hash}`;

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    fx = await writeFixture(db, { big: true });
    built = await buildSite({ db, out: site });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console: ${m.text()}`);
    });
    // Nothing may leave the page: every request must be for a local file.
    page.on('request', (r) => {
      if (!r.url().startsWith('file:') && !r.url().startsWith('http://127.0.0.1')) errors.push(`network: ${r.url()}`);
    });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    writeFileSync(join(SHOTS, 'bench.json'), `${JSON.stringify(bench, null, 2)}\n`);
    console.log(`viewer e2e: screenshots and bench.json in ${SHOTS}\n${JSON.stringify(bench, null, 2)}`);
    rmSync(dir, { recursive: true, force: true });
  });

  afterEach(() => {
    expect(errors).toEqual([]);
  });

  /** Opens a URL as a fresh document and waits until the view has drawn; returns ms since navigation start. */
  async function open(target: string): Promise<number> {
    await page.goto('about:blank');
    await page.goto(target);
    await page.waitForFunction(() => document.documentElement.dataset.state !== 'loading', undefined, { timeout: 90_000 });
    expect(await page.evaluate(() => document.documentElement.dataset.state)).toBe('ready');
    return painted();
  }

  /** Waits two animation frames (the frame after the last render), returns performance.now(). */
  function painted(): Promise<number> {
    return page.evaluate(() => new Promise<number>((done) => requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now())))));
  }

  const stats = (): Promise<Stats[]> => page.evaluate(() => window.__patchwise!.stats() as Stats[]);
  const view = async (name: string): Promise<Stats> => (await stats()).find((s) => s.name === name)!;

  /** PNG bytes of an element: a blank canvas compresses to almost nothing, a drawn graph does not. */
  async function shot(selector: string, file?: string): Promise<number> {
    const png = await page.locator(selector).screenshot(file ? { path: join(SHOTS, file) } : {});
    return png.length;
  }

  it('opens from file:// and draws the known circuit: 6 nodes, 8 edges, 5 q/k/v ports', async () => {
    bench.smallLoadMs = Math.round(await open(url(`tab=circuit&c=${fx.kl.id}`)));
    expect(await view('circuit')).toEqual({ name: 'circuit', nodes: 6, ports: 5, edges: 8, dense: false });
    expect(fx.kl.circuit.size).toBe(8);
    expect(fx.kl.circuit.nodes()).toHaveLength(6);
    const s = page.locator('[data-testid=circuit-stats]');
    expect(await s.getAttribute('data-nodes')).toBe('6');
    expect(await s.getAttribute('data-edges')).toBe('8');
    expect(await s.textContent()).toContain('faithfulness 0.9');
    expect(await shot('#circuit-graph')).toBeGreaterThan(8000);
    await page.screenshot({ path: join(SHOTS, 'circuit.png') });
  });

  it('shows names from the data as text, never as markup', async () => {
    expect(await page.locator('.meta').textContent()).toContain(HOSTILE_MODEL);
    expect(await page.locator('img').count()).toBe(0);
    await open(url('tab=patching&pipeline=e2e'));
    expect(await page.locator('.prompt-table').textContent()).toContain(HOSTILE_PROMPT);
    expect(await page.locator('#view script').count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
  });

  it('hovering names a node; clicking lists its edges and its effect under every stored run', async () => {
    await open(url(`tab=circuit&c=${fx.kl.id}`));
    const box = (await page.locator('#circuit-graph').boundingBox())!;
    const at = (await page.evaluate(() => window.__patchwise!.nodePosition('circuit', 'a1.h2')))!;
    await page.mouse.move(box.x + at.x, box.y + at.y);
    await page.locator('.tooltip:not([hidden])').waitFor();
    expect(await page.locator('.tooltip .tt-title').textContent()).toBe('a1.h2');
    await page.mouse.click(box.x + at.x, box.y + at.y);
    await page.locator('table.effects').waitFor();
    expect(await page.locator('.node-name').textContent()).toBe('a1.h2');
    // Four head runs (two corruptions x two metrics), all of which detected a1.h2.
    expect(await page.locator('table.effects tr.detected').count()).toBe(4);
    expect(page.url()).toContain('node=a1.h2');
    await page.screenshot({ path: join(SHOTS, 'circuit-selected.png') });
    // An edge: hover the middle of input -> a1.h2<q>.
    await open(url(`tab=circuit&c=${fx.kl.id}`));
    const [p, q] = await page.evaluate(() => ['input', 'a1.h2<q>'].map((n) => window.__patchwise!.nodePosition('circuit', n)!));
    await page.mouse.move(box.x + (p!.x + q!.x) / 2, box.y + (p!.y + q!.y) / 2);
    await page.locator('.tooltip:not([hidden])').waitFor();
    expect(await page.locator('.tooltip .tt-title').textContent()).toBe('input->a1.h2<q>');
    expect(await page.locator('.tooltip').textContent()).toContain('into the query input');
  });

  it('the threshold slider re-cuts live, and the URL reproduces the view', async () => {
    await open(url(`tab=circuit&c=${fx.kl.id}`));
    await page.locator('#threshold').focus();
    await page.keyboard.press('End');
    // The lowest threshold keeps every scored edge: the whole 3-layer, 4-head graph.
    expect(await view('circuit')).toMatchObject({ nodes: 17, edges: 262 });
    expect(page.url()).toMatch(/[#&]t=/);
    const link = page.url();
    await page.keyboard.press('Home');
    const few = await view('circuit');
    expect(few.edges).toBeLessThan(8);
    await open(link);
    expect(await view('circuit')).toMatchObject({ nodes: 17, edges: 262 });
    await page.getByRole('button', { name: 'stored' }).click();
    expect(await view('circuit')).toMatchObject({ nodes: 6, edges: 8 });
    expect(page.url()).not.toMatch(/[#&]t=/);
  });

  it('compare view: side by side with shared cameras, the union diff, Jaccard, and the overlap matrix', async () => {
    await open(url(`tab=compare&a=${fx.kl.id}&b=${fx.ld.id}`));
    expect(await view('compare-a')).toMatchObject({ nodes: 6, edges: 8 });
    expect(await view('compare-b')).toMatchObject({ nodes: 6, edges: 7 });
    // 3 edges shared, 5 only in the KL circuit, 4 only in the logit-difference one.
    expect(await view('compare-diff')).toMatchObject({ edges: 12 });
    const summary = page.locator('[data-testid=compare-stats]');
    expect(await summary.getAttribute('data-both')).toBe('3');
    expect(await summary.getAttribute('data-only-a')).toBe('5');
    expect(await summary.getAttribute('data-only-b')).toBe('4');
    expect(Number(await summary.getAttribute('data-jaccard'))).toBeCloseTo(0.25, 12);
    expect(await summary.textContent()).toContain('faithfulness 0.9');
    await page.locator('[data-testid=overlap-matrix]').waitFor();
    expect(await page.locator('[data-testid=overlap-matrix] td').count()).toBe(4);

    // Zooming one canvas moves the others.
    const box = (await page.locator('#graph-a').boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.wheel(0, -400);
    await page.waitForTimeout(600);
    const [ca, cb, cd] = await page.evaluate(() => ['compare-a', 'compare-b', 'compare-diff'].map((v) => window.__patchwise!.camera(v)));
    expect(ca!.ratio).toBeLessThan(1);
    expect(cb).toEqual(ca);
    expect(cd).toEqual(ca);
    await open(url(`tab=compare&a=${fx.kl.id}&b=${fx.ld.id}`));
    await page.screenshot({ path: join(SHOTS, 'compare.png'), fullPage: true });

    // Moving A's slider changes A's size and the diff.
    await page.locator('#threshold-a').focus();
    await page.keyboard.press('End');
    expect(await view('compare-a')).toMatchObject({ edges: 262 });
    expect(await view('compare-diff')).toMatchObject({ edges: 262 });
    expect(await summary.getAttribute('data-both')).toBe('7');
    expect(page.url()).toMatch(/[#&]ta=/);
    await page.keyboard.press('Home');
    expect((await view('compare-a')).edges).toBeLessThan(8);
  });

  it('compares circuits of two model shapes by edge name, in the larger frame', async () => {
    const big = fx.big!.circuit;
    const small = fx.kl.circuit;
    const names = (c: typeof big): Set<string> => new Set(c.edges().map((e) => e.name));
    const [a, b] = [names(small), names(big)];
    const both = [...a].filter((n) => b.has(n)).length;
    await open(url(`tab=compare&a=${fx.kl.id}&b=${fx.big!.id}`));
    expect(await view('compare-a')).toMatchObject({ edges: 8 });
    expect(await view('compare-b')).toMatchObject({ edges: big.size });
    expect(await view('compare-diff')).toMatchObject({ edges: a.size + b.size - both });
    expect(await page.locator('[data-testid=compare-stats]').getAttribute('data-both')).toBe(String(both));
  });

  it('patching view: heatmaps per corruption and metric with detected components outlined, window curves and circuit curves', async () => {
    await open(url('tab=patching&pipeline=e2e'));
    const maps = page.locator('[data-testid=heatmap]');
    expect(await maps.count()).toBe(4);
    for (let i = 0; i < 4; i++) expect(await maps.nth(i).getAttribute('data-detected')).toBe('2');
    expect(await page.locator('.heatmap .outline').count()).toBe(8);
    expect(await page.locator('[data-testid=window-chart]').count()).toBe(1);
    expect(await page.locator('[data-testid=faithfulness-chart]').count()).toBe(1);
    expect(await page.locator('[data-testid=roc-chart]').count()).toBe(1);
    await page.screenshot({ path: join(SHOTS, 'patching.png'), fullPage: true });
    // The per-position attention family: layer x position, one run.
    await page.locator('#patching-family').selectOption('attn:1');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=heatmap]').length === 1);
    expect(page.url()).toContain('fam=attn%3A1');
    // Per-position layout: x = position (labelled with its roles; this prompt does not split into
    // one piece per token), y = layer going up.
    const cols = await page.locator('[data-testid=heatmap] text.col-label').allTextContents();
    expect(cols).toEqual(['0', '1 S1', '2 IO', '3', '4 S2', '5 END']);
    const rows = await page.locator('[data-testid=heatmap] svg > text[text-anchor=end]:not(.col-label)').evaluateAll((ts) =>
      ts
        .map((t) => ({ label: t.textContent, y: Number(t.getAttribute('y')) }))
        .sort((a, b) => b.y - a.y)
        .map((r) => r.label),
    );
    expect(rows).toEqual(['0', '1', '2']);
  });

  it('renders the gpt2-small-shaped graph with all 32,491 edges scored, interactively', async () => {
    const big = fx.big!;
    const chunk = built.files.find((f) => f.path === `data/circuit-${big.id}.js`)!;
    bench.gpt2CircuitFileBytes = chunk.bytes;
    bench.indexFileBytes = built.files.find((f) => f.path === 'data/index.js')!.bytes;
    bench.appJsBytes = built.files.find((f) => f.path === 'app.js')!.bytes;

    bench.gpt2StoredLoadMs = Math.round(await open(url(`tab=circuit&c=${big.id}`)));
    expect(await view('circuit')).toMatchObject({ edges: big.circuit.size, nodes: big.circuit.nodes().length });
    bench.gpt2StoredEdges = big.circuit.size;
    await page.screenshot({ path: join(SHOTS, 'gpt2-stored.png') });

    bench.gpt2AllEdgesLoadMs = Math.round(await open(url(`tab=circuit&c=${big.id}&t=0`)));
    expect(await view('circuit')).toEqual({ name: 'circuit', nodes: 158, ports: 432, edges: 32_491, dense: true });
    expect(await shot('#circuit-graph')).toBeGreaterThan(50_000);
    await page.screenshot({ path: join(SHOTS, 'gpt2-all-edges.png') });

    // Slider moves: all edges -> the top ~1% -> all edges again.
    await page.locator('#threshold').focus();
    const move = async (key: string): Promise<number> => {
      const t0 = await page.evaluate(() => performance.now());
      await page.keyboard.press(key);
      return (await painted()) - t0;
    };
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      await page.locator('#threshold').fill('870');
      times.push(await move('End'));
    }
    expect(await view('circuit')).toMatchObject({ edges: 32_491 });
    bench.gpt2RecutToAllEdgesMs = Math.round(Math.min(...times));
    const tSmall = await move('PageDown');
    bench.gpt2RecutStepMs = Math.round(tSmall);
    expect((await view('circuit')).edges).toBeLessThan(32_491);
    // Generous bounds: SwiftShader on a small CI machine; the numbers themselves go to bench.json.
    expect(bench.gpt2AllEdgesLoadMs).toBeLessThan(30_000);
    expect(bench.gpt2RecutToAllEdgesMs).toBeLessThan(10_000);
  });

  /** The SVG a canvas would download, and its edge lines' colours. */
  async function svgOf(name: string): Promise<{ text: string; edgeColors: string[] }> {
    const text = (await page.evaluate((v) => window.__patchwise!.svg(v), name))!;
    const edgeColors = [...text.matchAll(/<line [^>]*class="edge"[^>]*>/g)].map((m) => /stroke="([^"]+)"/.exec(m[0])![1]!);
    return { text, edgeColors };
  }
  const GREY = '#ececec';

  it('labels every drawn node at the default zoom, under layer headings', async () => {
    await open(url(`tab=circuit&c=${fx.kl.id}`));
    const labels = await page.evaluate(() => window.__patchwise!.labels('circuit')!);
    expect(new Set(labels)).toEqual(new Set(fx.kl.circuit.nodes()));
    expect(await page.locator('#circuit-graph .layer-heading').allTextContents()).toEqual(['L0', 'L1', 'L2']);
    // The 12 x 12 graph: every node of the stored 4,000-edge cut keeps its label.
    await open(url(`tab=circuit&c=${fx.big!.id}`));
    const big = await page.evaluate(() => window.__patchwise!.labels('circuit')!);
    expect(new Set(big)).toEqual(new Set(fx.big!.circuit.nodes()));
    expect(await page.locator('#circuit-graph .layer-heading').count()).toBe(12);
    await page.screenshot({ path: join(SHOTS, 'gpt2-labels.png') });
  });

  it('a selection clears by clicking the node again, the empty canvas, Escape or the clear button; a node cut away greys nothing', async () => {
    await open(url(`tab=circuit&c=${fx.kl.id}`));
    const box = (await page.locator('#circuit-graph').boundingBox())!;
    const clickNode = async (n: string): Promise<void> => {
      // Apart by more than sigma's double-click window (a double click zooms instead).
      await page.waitForTimeout(400);
      const at = (await page.evaluate((node) => window.__patchwise!.nodePosition('circuit', node), n))!;
      await page.mouse.click(box.x + at.x, box.y + at.y);
    };
    await clickNode('a1.h2');
    await page.locator('.node-name').waitFor();
    expect(page.url()).toContain('node=a1.h2');
    await clickNode('a1.h2');
    await page.waitForFunction(() => !location.hash.includes('node='));
    expect(await page.locator('.node-name').count()).toBe(0);
    await clickNode('a1.h2');
    await page.locator('.node-name').waitFor();
    await page.waitForTimeout(400);
    await page.mouse.click(box.x + 8, box.y + box.height - 8);
    await page.waitForFunction(() => !location.hash.includes('node='));
    await clickNode('a0.h3');
    await page.locator('.node-name').waitFor();
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => !location.hash.includes('node='));
    await clickNode('a0.h3');
    await page.locator('#clear-selection').click();
    await page.waitForFunction(() => !location.hash.includes('node='));
    // Select m1, then cut it away (the top three edges run through a2.h0): the rest keep their colours.
    await clickNode('m1');
    await page.locator('.node-name').waitFor();
    expect((await svgOf('circuit')).edgeColors.filter((c) => c === GREY).length).toBeGreaterThan(0);
    await page.locator('#threshold').focus();
    await page.keyboard.press('Home');
    await page.keyboard.press('ArrowRight');
    await painted();
    const cut = await svgOf('circuit');
    expect(await page.evaluate(() => window.__patchwise!.nodePosition('circuit', 'm1'))).toBeNull();
    expect(cut.edgeColors.length).toBeGreaterThan(0);
    expect(cut.edgeColors.filter((c) => c === GREY)).toEqual([]);
    expect(await page.locator('.details').textContent()).toContain('not in the circuit at this threshold');
  });

  it('the slider label counts the edges drawn, arrows step by drawn edge, and no far stored point stands for the cut', async () => {
    await open(url(`tab=circuit&c=${fx.kl.id}`));
    const label = page.locator('[data-testid=threshold-label]');
    const stat = page.locator('[data-testid=circuit-stats]');
    const agree = async (): Promise<number> => {
      const drawn = (await view('circuit')).edges;
      expect(Number(await label.getAttribute('data-edges'))).toBe(drawn);
      expect(Number(await stat.getAttribute('data-edges'))).toBe(drawn);
      expect(await label.textContent()).toContain(`${drawn.toLocaleString('en-US')} edges`);
      return drawn;
    };
    expect(await agree()).toBe(8);
    for (const v of ['0', '150', '300', '450', '600', '800', '1000']) {
      await page.locator('#threshold').fill(v);
      await agree();
    }
    // From the top edge, each arrow press changes the drawn edges.
    await page.locator('#threshold').focus();
    await page.keyboard.press('Home');
    let last = await agree();
    for (let i = 0; i < 4; i++) {
      await page.keyboard.press('ArrowRight');
      const now = await agree();
      expect(now).not.toBe(last);
      last = now;
    }
    await page.keyboard.press('ArrowLeft');
    expect(await agree()).toBeLessThan(last);
    // An empty cut claims no faithfulness.
    await page.keyboard.press('Home');
    if ((await view('circuit')).edges === 0) expect(await stat.textContent()).toContain('empty circuit');
    expect(await stat.textContent()).not.toMatch(/^0 nodes · 0 edges · faithfulness/);
  });

  it('path-patching runs: one sender x receiver-set heatmap, labelled by sender and set, apart from the node heatmaps', async () => {
    const pathDb = join(dir, 'paths.db');
    const { pathRuns } = await writePathFixture(pathDb);
    const pathSite = join(dir, 'paths-site');
    await buildSite({ db: pathDb, out: pathSite });
    await open(`${pathToFileURL(join(pathSite, 'index.html')).href}#tab=patching`);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=path-heatmap]').length === 1);
    // The node-level heads run keeps its own map; the path runs are not drawn as node effects.
    expect(await page.locator('[data-testid=heatmap]').count()).toBe(1);
    const card = page.locator('[data-testid=path-heatmap]');
    expect(await card.getAttribute('data-runs')).toBe(pathRuns.join(','));
    expect(await card.locator('.card-title').textContent()).toBe('path patching · corruption: key-token · metric: logit-diff');
    expect(await card.locator('text.col-label').allTextContents()).toEqual(Object.keys(PATH_SETS));
    const rows = await card.locator('svg > text[text-anchor=end]:not(.col-label)').evaluateAll((ts) =>
      ts
        .map((t) => ({ label: t.textContent, y: Number(t.getAttribute('y')) }))
        .sort((a, b) => a.y - b.y)
        .map((r) => r.label),
    );
    expect(rows).toEqual([...PATH_SENDERS.out]);
    // Senders x sets cells; the second layer feeds none of the key set: those cells say so.
    expect(await card.locator('rect.cell').count()).toBe(PATH_SENDERS.out.length * 2);
    const titles = await card.locator('rect.cell title').allTextContents();
    expect(titles).toContain('a1.h0 -> keys: no path');
    expect(titles.find((t) => t.startsWith('a0.h1 -> out: '))).toMatch(/^a0\.h1 -> out: -0\.69\d* ± /);
    await card.screenshot({ path: join(SHOTS, 'path-heatmap.png') });
  });

  it('AtP runs: a heatmap column of their own beside the exact run, labelled AtP, with their agreement', async () => {
    const atpDb = join(dir, 'atp.db');
    const { exactRun, atpRun, agreement } = await writeAtpFixture(atpDb);
    const atpSite = join(dir, 'atp-site');
    await buildSite({ db: atpDb, out: atpSite });
    await open(`${pathToFileURL(join(atpSite, 'index.html')).href}#tab=patching`);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=heatmap]').length === 2);
    expect(await page.locator('.grid-head:not(.row-head)').allTextContents()).toEqual(['corruption: key-token', 'corruption: key-token (AtP)']);
    const atpCard = page.locator(`[data-testid=heatmap][data-run="${atpRun}"]`);
    expect(await atpCard.locator('.card-title').textContent()).toMatch(new RegExp(`^run ${atpRun}: AtP · key-token`));
    expect(await atpCard.locator('[data-testid=atp-agreement]').textContent()).toBe(agreementLine({ exactRunId: exactRun, agreement }));
    expect(await page.locator(`[data-testid=heatmap][data-run="${exactRun}"] [data-testid=atp-agreement]`).count()).toBe(0);
    await page
      .locator('.heat-grid')
      .first()
      .screenshot({ path: join(SHOTS, 'atp-heatmaps.png') });
  });

  it('a database whose circuits are all empty renders every tab', async () => {
    const emptyDb = join(dir, 'empty-circuits.db');
    const { Store } = await import('../../src/store/store.js');
    const { Circuit } = await import('../../src/circuits/circuit.js');
    const store = await Store.open(emptyDb);
    try {
      const modelId = await store.models.upsert({ fingerprint: 'fp-e', name: 'tiny', path: '/m', architecture: 'gpt2', config: { nLayers: 2, nHeads: 2 } });
      const datasetId = await store.datasets.upsert({
        fingerprint: 'ds-e',
        task: 'ioi',
        settings: {},
        pairs: [{ index: 0, clean: [1, 2], corrupted: [1, 3], cleanText: 'a b', corruptedText: 'a c', roles: {} }],
      });
      const run = await store.runs.open({
        pipeline: 'p',
        key: 'r',
        modelId,
        datasetId,
        settings: { corruption: 's2-io', metric: 'kl', direction: 'denoising', granularity: 'heads', window: 1 },
        codeVersion: 't',
      });
      await store.runs.saveUnit(
        run.id,
        'all',
        [0, 1].flatMap((L) => [0, 1].map((H) => ({ component: `a${L}.h${H}`, kind: 'head', layer: L, head: H, position: null, window: 1, prompt: 0, value: 0.1 * (L + H) }))),
        0.1,
      );
      await store.runs.finish(run.id, { seconds: 1 });
      for (const metric of ['kl', 'logit-diff']) {
        const c = Circuit.empty({ nLayers: 2, nHeads: 2 }, { method: 'acdc', metric, corruption: 's2-io', direction: 'noising', model: { name: 'tiny', fingerprint: 'fp-e' } });
        const id = await store.circuits.save({ pipeline: 'p', key: `acdc-${metric}`, circuit: c, settings: {} });
        await store.curves.save({ pipeline: 'p', key: `acdc-${metric}`, kind: 'faithfulness', circuitId: id, points: [{ threshold: 0.1, size: 0, faithfulness: 0 }] });
        // A sweep whose faithfulness hardly moves: rounded tick labels must not repeat ("1", "1").
        await store.curves.save({
          pipeline: 'p',
          key: `sweep-${metric}`,
          kind: 'faithfulness',
          circuitId: null,
          runId: run.id,
          points: [3, 5, 8].map((size, i) => ({ threshold: null, size, faithfulness: [0.99991, 0.99995, 1.00002][i]! })),
        });
      }
    } finally {
      await store.close();
    }
    const emptySite = join(dir, 'empty-circuits-site');
    await buildSite({ db: emptyDb, out: emptySite });
    for (const tab of ['circuit', 'compare', 'patching']) {
      await open(`${pathToFileURL(join(emptySite, 'index.html')).href}#tab=${tab}`);
      expect(await page.locator('.error').count()).toBe(0);
    }
    expect(await page.locator('[data-testid=heatmap]').count()).toBe(1);
    const ticks = await page.locator('[data-testid=faithfulness-chart] svg .axis text:not(.axis-label)').allTextContents();
    expect(ticks.length).toBeGreaterThan(2);
    expect(new Set(ticks).size).toBe(ticks.length);
    await open(`${pathToFileURL(join(emptySite, 'index.html')).href}#tab=circuit`);
    expect(await page.locator('[data-testid=circuit-stats]').textContent()).toContain('empty circuit');
  });

  it('compare names each side by its settings, warns across models, swaps A and B, and links hover', async () => {
    await open(url(`tab=compare&a=${fx.kl.id}&b=${fx.ld.id}`));
    const a = await page.locator('[data-testid=compare-a-settings]').textContent();
    const b = await page.locator('[data-testid=compare-b-settings]').textContent();
    for (const want of ['eap', 's2-io', 'denoising', 'τ 0.5', HOSTILE_MODEL]) {
      expect(a).toContain(want);
      expect(b).toContain(want);
    }
    expect(a).toContain('kl');
    expect(b).toContain('logit-diff');
    expect(await page.locator('[data-testid=compare-warning]').count()).toBe(0);
    await page.locator('[data-testid=overlap-matrix]').waitFor();
    const heads = await page.locator('[data-testid=overlap-matrix] th').allTextContents();
    expect(heads.filter((t) => t.includes('τ 0.5'))).toHaveLength(4);
    expect(new Set(heads.filter((t) => t !== '')).size).toBe(2);
    // Linked hover: a1.h2 hovered in A greys B's edges that do not touch it.
    const box = (await page.locator('#graph-a').boundingBox())!;
    const at = (await page.evaluate(() => window.__patchwise!.nodePosition('compare-a', 'm0')))!;
    expect(at).toBeNull();
    const at2 = (await page.evaluate(() => window.__patchwise!.nodePosition('compare-a', 'a1.h2')))!;
    await page.mouse.move(box.x + at2.x, box.y + at2.y);
    await page.locator('#graph-a .tooltip:not([hidden])').waitFor();
    await painted();
    const bColors = (await svgOf('compare-b')).edgeColors;
    expect(bColors.filter((c) => c === GREY).length).toBeGreaterThan(0);
    expect(bColors.filter((c) => c !== GREY).length).toBeGreaterThan(0);
    await page.mouse.move(box.x + 4, box.y + 4);
    // Swap.
    await page.locator('#compare-swap').click();
    await page.waitForFunction(() => document.documentElement.dataset.state === 'ready');
    expect(page.url()).toContain(`a=${fx.ld.id}`);
    expect(page.url()).toContain(`b=${fx.kl.id}`);
    expect(await view('compare-a')).toMatchObject({ edges: 7 });
    // Different models, and one circuit compared with itself, are said out loud.
    await open(url(`tab=compare&a=${fx.kl.id}&b=${fx.big!.id}`));
    expect(await page.locator('[data-testid=compare-warning]').textContent()).toMatch(/different models.*different graphs/);
    await open(url(`tab=compare&a=${fx.kl.id}&b=${fx.kl.id}`));
    expect(await page.locator('[data-testid=compare-warning]').textContent()).toContain('same circuit');
  });

  it('at 800 px nothing overlaps or leaves the page', async () => {
    await page.setViewportSize({ width: 800, height: 900 });
    try {
      await open(url(`tab=compare&a=${fx.kl.id}&b=${fx.ld.id}`));
      const rect = (sel: string) =>
        page
          .locator(sel)
          .boundingBox()
          .then((r) => r!);
      const storedA = await rect('.side-a button.stored');
      const sliderB = await rect('#threshold-b');
      const overlap = (p: typeof storedA, q: typeof storedA): boolean => p.x < q.x + q.width && q.x < p.x + p.width && p.y < q.y + q.height && q.y < p.y + p.height;
      expect(overlap(storedA, sliderB)).toBe(false);
      for (const sel of ['.side-a button.stored', '.side-b button.stored', '#threshold-a', '#threshold-b', '#compare-swap']) {
        const r = await rect(sel);
        expect(r.x).toBeGreaterThanOrEqual(0);
        expect(r.x + r.width).toBeLessThanOrEqual(800);
      }
      await page.screenshot({ path: join(SHOTS, 'compare-800.png'), fullPage: true });
      for (const hash of [`tab=compare&a=${fx.kl.id}&b=${fx.ld.id}`, `tab=circuit&c=${fx.kl.id}`, 'tab=patching&pipeline=e2e']) {
        await open(url(hash));
        expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(800);
      }
      await page.screenshot({ path: join(SHOTS, 'patching-800.png'), fullPage: true });
    } finally {
      await page.setViewportSize({ width: 1400, height: 900 });
    }
  });

  it('heatmaps state their units, can share one scale per row, and print their values', async () => {
    await open(url('tab=patching&pipeline=e2e'));
    const units = await page.locator('[data-testid=colorbar-unit]').allTextContents();
    expect(units).toHaveLength(4);
    expect(units.filter((u) => u.includes('KL divergence (nats)'))).toHaveLength(2);
    expect(units.filter((u) => u.includes('logit difference'))).toHaveLength(2);
    const maxes = async (): Promise<number[]> => await page.locator('[data-testid=heatmap]').evaluateAll((els) => els.map((e) => Number((e as HTMLElement).dataset.max)));
    const own = await maxes();
    // Rows are metrics, columns corruptions: s2-io and gn side by side, on their own scales at first.
    expect(own[0]).not.toBe(own[1]);
    await page.locator('#shared-scale').check();
    await page.waitForFunction(() => location.hash.includes('scale=row'));
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=heatmap]').length === 4);
    const shared = await maxes();
    expect(shared[0]).toBe(shared[1]);
    expect(shared[2]).toBe(shared[3]);
    expect(shared[0]).toBe(Math.max(own[0]!, own[1]!));
    expect(await page.locator('.heatmap text.value').count()).toBe(0);
    await page.locator('#show-values').check();
    await page.waitForFunction(() => document.querySelectorAll('.heatmap text.value').length === 4 * 12);
  });

  it('the edge and node tables rank, sort, search and link to the graph', async () => {
    await open(url(`tab=circuit&c=${fx.kl.id}`));
    const rows = page.locator('[data-testid=edge-table] tbody tr');
    expect(await rows.count()).toBe(8);
    const scores = await rows.evaluateAll((trs) => trs.map((tr) => Math.abs(Number(tr.children[2]!.textContent))));
    expect(scores).toEqual([...scores].sort((x, y) => y - x));
    expect(await page.locator('[data-testid=node-table] tbody tr').count()).toBe(6);
    await page.locator('[data-testid=edge-table] button[data-sort=name]').click();
    const names = await rows.evaluateAll((trs) => trs.map((tr) => tr.children[1]!.textContent!));
    expect(names).toEqual([...KL_EDGES].sort((x, y) => x.localeCompare(y)));
    await page.locator('#search').fill('a1.h2');
    expect(await rows.count()).toBe(KL_EDGES.filter((e) => e.includes('a1.h2')).length);
    await page.locator('#search').press('Enter');
    await page.waitForFunction(() => location.hash.includes('node=a1.h2'));
    await page.locator('#search').fill('');
    // Hovering a row leaves only its edge coloured.
    await rows.first().hover();
    await painted();
    const colors = (await svgOf('circuit')).edgeColors;
    expect(colors.filter((c) => c !== GREY)).toHaveLength(1);
    // Hovering a node marks its rows.
    await page.keyboard.press('Escape');
    const box = (await page.locator('#circuit-graph').boundingBox())!;
    const at = (await page.evaluate(() => window.__patchwise!.nodePosition('circuit', 'a0.h3')))!;
    await page.mouse.move(box.x + at.x, box.y + at.y);
    await page.locator('#circuit-graph .tooltip:not([hidden])').waitFor();
    expect(await page.locator('[data-testid=edge-table] tr.linked').count()).toBe(KL_EDGES.filter((e) => e.includes('a0.h3')).length);
  });

  it('downloads the view as PNG and SVG and the circuit as EAP-IG JSON that circuit import reads back', async () => {
    await open(url(`tab=circuit&c=${fx.kl.id}`));
    const save = async (id: string): Promise<Buffer> => {
      const [dl] = await Promise.all([page.waitForEvent('download'), page.locator(id).click()]);
      const file = join(dir, dl.suggestedFilename());
      await dl.saveAs(file);
      return readFileSync(file);
    };
    const png = await save('#download-png');
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    expect(png.length).toBeGreaterThan(8000);
    const svg = (await save('#download-svg')).toString('utf8');
    expect(svg).toMatch(/^<\?xml[^>]*>\s*<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(svg.match(/class="edge"/g)).toHaveLength(8);
    for (const n of fx.kl.circuit.nodes()) expect(svg).toContain(`>${n}</text>`);
    const jsonPath = join(dir, 'kl.json');
    writeFileSync(jsonPath, await save('#download-json'));
    const { readCircuitFile } = await import('../../src/circuits/files.js');
    const back = readCircuitFile(jsonPath, { expectShape: SMALL });
    expect(back.format).toBe('eap');
    expect(
      back.circuit
        .edges()
        .map((e) => e.name)
        .sort(),
    ).toEqual([...KL_EDGES].sort());
    expect(back.circuit.meta.metric).toBe('kl');
    // Scores round-trip bit for bit.
    expect([...back.circuit.scores]).toEqual([...fx.kl.circuit.scores]);
  });

  it('the keyboard reaches everything: tabs by arrows, graph nodes by arrows and Enter', async () => {
    await open(url(`tab=circuit&c=${fx.kl.id}`));
    await page.locator('#circuit-graph').focus();
    await page.keyboard.press('ArrowRight');
    await page.locator('#circuit-graph .tooltip:not([hidden])').waitFor();
    expect(await page.locator('#circuit-graph .tooltip .tt-title').textContent()).toBe('input');
    await page.keyboard.press('ArrowRight');
    expect(await page.locator('#circuit-graph .tooltip .tt-title').textContent()).toBe('a0.h3');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => location.hash.includes('node=a0.h3'));
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => !location.hash.includes('node='));
    await page.locator('.tab[aria-selected=true]').focus();
    await page.keyboard.press('ArrowRight');
    await page.waitForFunction(() => location.hash.includes('tab=compare'));
    expect(await page.locator('.tab[aria-selected=true]').textContent()).toBe('Compare');
  });

  it('compare resets the shared zoom and downloads its three drawings', async () => {
    await open(url(`tab=compare&a=${fx.kl.id}&b=${fx.ld.id}`));
    const box = (await page.locator('#graph-a').boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.wheel(0, -400);
    await page.waitForTimeout(600);
    expect((await page.evaluate(() => window.__patchwise!.camera('compare-b')))!.ratio).toBeLessThan(1);
    await page.locator('#reset-zoom').click();
    await page.waitForTimeout(600);
    for (const v of ['compare-a', 'compare-b', 'compare-diff']) expect((await page.evaluate((n) => window.__patchwise!.camera(n), v))!.ratio).toBeCloseTo(1, 6);
    const names: string[] = [];
    const got = new Promise<void>((done) => {
      page.on('download', (d) => {
        names.push(d.suggestedFilename());
        if (names.length === 3) done();
      });
    });
    await page.locator('#download-svg').click();
    await got;
    page.removeAllListeners('download');
    expect(names.sort()).toEqual(['A', 'B', 'diff'].map((w) => `compare-${fx.kl.id}-${fx.ld.id}-${w}.svg`).sort());
  });

  it('hint text reads at 4.5:1 or more against its background', async () => {
    const ratios = async (): Promise<{ text: string; ratio: number }[]> =>
      page.evaluate(() => {
        const rgb = (c: string): number[] => (c.match(/[\d.]+/g) ?? []).map(Number);
        const lum = (c: number[]): number => {
          const [r, g, b] = c.slice(0, 3).map((v) => {
            const x = v / 255;
            return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
          });
          return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
        };
        const bg = (e: Element | null): number[] => {
          for (let x = e; x; x = x.parentElement) {
            const c = rgb(getComputedStyle(x).backgroundColor);
            if (c.length === 3 || (c.length === 4 && c[3]! > 0.9)) return c;
          }
          return [255, 255, 255];
        };
        return [...document.querySelectorAll('.hint, .card-sub, .meta dt, .source')].map((e) => {
          const a = lum(rgb(getComputedStyle(e).color));
          const b = lum(bg(e));
          return { text: e.textContent!.slice(0, 40), ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05) };
        });
      });
    for (const hash of [`tab=circuit&c=${fx.kl.id}`, 'tab=patching&pipeline=e2e', `tab=compare&a=${fx.kl.id}&b=${fx.ld.id}`]) {
      await open(url(hash));
      const r = await ratios();
      expect(r.length).toBeGreaterThan(0);
      expect(r.filter((x) => x.ratio < 4.5)).toEqual([]);
    }
  });

  it('faithfulness curves are named by their circuits settings, coloured by method, with CPR and CMD', async () => {
    await open(url('tab=patching&pipeline=e2e'));
    const legend = await page.locator('[data-testid=faithfulness-chart] .legend').textContent();
    const c = fx.kl.circuit;
    const pts = [1, 2, 4, 8, 16, 32, 64].map((n) => [c.topN(n).size, Math.min(1, c.topN(n).size / c.size)] as const).sort((p, q) => p[0] - q[0]);
    const nEdges = c.graph.nEdges;
    let cpr = 0;
    let cmd = 0;
    for (let i = 1; i < pts.length; i++) {
      const dx = (pts[i]![0] - pts[i - 1]![0]) / nEdges;
      cpr += (dx * (pts[i]![1] + pts[i - 1]![1])) / 2;
      cmd += (dx * (Math.abs(1 - pts[i]![1]) + Math.abs(1 - pts[i - 1]![1]))) / 2;
    }
    const { fmt } = await import('../../viz/src/text.js');
    expect(legend).toContain(`#${fx.kl.id} eap · kl · s2-io · denoising · τ 0.5 (CPR ${fmt(cpr)}, CMD ${fmt(cmd)})`);
    expect(legend).toContain(`#${fx.ld.id} eap · logit-diff`);
    // Same method, one colour: the second curve of a method is dashed instead.
    const strokes = await page.locator('[data-testid=faithfulness-chart] svg path').evaluateAll((ps) => ps.map((p) => [p.getAttribute('stroke'), p.getAttribute('stroke-dasharray')]));
    expect(strokes).toHaveLength(2);
    expect(strokes[0]![0]).toBe(strokes[1]![0]);
    expect(strokes[0]![1]).not.toBe(strokes[1]![1]);
  });

  it("a node's details show what it writes: the tokens its mean output promotes and suppresses", async () => {
    const plantedDb = join(dir, 'planted.db');
    const pf = await writePlantedFixture(plantedDb);
    const plantedSite = join(dir, 'planted-site');
    await buildSite({ db: plantedDb, out: plantedSite });
    await open(`${pathToFileURL(join(plantedSite, 'index.html')).href}#tab=circuit&c=${pf.circuitId}`);
    const box = (await page.locator('#circuit-graph').boundingBox())!;
    const at = (await page.evaluate(() => window.__patchwise!.nodePosition('circuit', 'a1.h7')))!;
    await page.mouse.move(box.x + at.x, box.y + at.y);
    await page.locator('#circuit-graph .tooltip:not([hidden])').waitFor();
    expect(await page.locator('#circuit-graph .tooltip').textContent()).toMatch(/promotes "#\d+"/);
    expect(await page.locator('header .source').textContent()).toBe('planted.db: 1 run, 1 circuit');
    await page.mouse.click(box.x + at.x, box.y + at.y);
    const writes = page.locator('[data-testid=node-writes]');
    await writes.waitFor();
    expect(await writes.locator('table.writes').count()).toBe(2);
    expect(await writes.locator('table.writes tr').count()).toBe(2 * (1 + 5));
    expect(await writes.textContent()).toContain(`over ${pf.prompts.length} prompts`);
    await page.screenshot({ path: join(SHOTS, 'node-writes.png') });
    // Without the model (the main fixture's is not on disk) the details say why.
    await open(url(`tab=circuit&c=${fx.kl.id}&node=a1.h2`));
    await page.locator('.details h4:text("What it writes")').waitFor();
    expect(await page.locator('.details').textContent()).toContain('not available: the model could not be loaded');
  });

  it('an empty database gives a site that says so', async () => {
    const emptyDb = join(dir, 'empty.db');
    const { Store } = await import('../../src/store/store.js');
    await (await Store.open(emptyDb)).close();
    const emptySite = join(dir, 'empty-site');
    await buildSite({ db: emptyDb, out: emptySite });
    for (const tab of ['circuit', 'compare', 'patching']) {
      await open(`${pathToFileURL(join(emptySite, 'index.html')).href}#tab=${tab}`);
      expect(await page.locator('.empty').textContent()).toMatch(/no (circuits|patching runs)/);
    }
  });

  it('works from `viz serve` as well as from file://', async () => {
    const server = await serveSite(site, { port: 0 });
    try {
      bench.httpGpt2AllEdgesLoadMs = Math.round(await open(`${server.url}#tab=circuit&c=${fx.big!.id}&t=0`));
      expect(await view('circuit')).toMatchObject({ edges: 32_491 });
      await open(`${server.url}#tab=compare&a=${fx.kl.id}&b=${fx.ld.id}`);
      expect(await view('compare-diff')).toMatchObject({ edges: 12 });
    } finally {
      await page.goto('about:blank');
      await server.close();
    }
  });
});
