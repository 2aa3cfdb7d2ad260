// Progress of a pipeline stage point: units done of the total, and inside the running unit the
// method's own steps (ACDC: decisions and edges kept). On a terminal, a live bar; otherwise one line
// every `everySeconds` (stage, units, steps, time left), so a log file shows a long run is alive.
import cliProgress from 'cli-progress';
import type { ProgressReporter } from '../methods/method.js';

export interface ProgressOptions {
  /** 'bar' on a terminal, 'lines' for logs, 'off' for nothing (default 'lines'). */
  readonly mode?: 'bar' | 'lines' | 'off';
  /** Seconds between lines in 'lines' mode (default 10; 0: a line at every step). */
  readonly everySeconds?: number;
  readonly log?: (line: string) => void;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** The progress of one stage point; step() is the method's reporter for the unit in progress. */
export class PointProgress implements ProgressReporter {
  private readonly t0 = performance.now();
  private unitsDone = 0;
  private computed = 0;
  private unitStart = performance.now();
  private unitLabel = '';
  private inner?: { done: number; total: number; detail?: string };
  private lastLine = 0;
  private readonly bar?: cliProgress.SingleBar;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly opts: ProgressOptions,
  ) {
    if (opts.mode === 'bar') {
      this.bar = new cliProgress.SingleBar(
        { format: `${label.slice(0, 40).padEnd(40)} [{bar}] {value}/{total} units {step} | {left} left`, hideCursor: true, clearOnComplete: false },
        cliProgress.Presets.shades_classic,
      );
    }
  }

  private log(line: string): void {
    (this.opts.log ?? ((l: string) => console.log(l)))(line);
  }

  /** Starts showing progress, `stored` units found stored already (by an earlier invocation or another process). */
  begin(stored: number): void {
    // The resumed line comes before the bar, which then redraws below it.
    if (stored > 0) this.log(`${this.label}: resumed: ${stored} of ${this.total} units already stored`);
    this.unitsDone = stored;
    this.bar?.start(this.total, stored, { step: '', left: '?' });
  }

  startUnit(unit: string): void {
    this.unitLabel = unit;
    this.unitStart = performance.now();
    this.inner = undefined;
  }

  /** A unit finished: by this process (computed) or seen stored by another. */
  unitDone(computed: boolean): void {
    this.unitsDone++;
    if (computed) this.computed++;
    this.inner = undefined;
    this.render(false);
  }

  step(done: number, total: number, detail?: string): void {
    this.inner = { done, total, detail };
    this.render(false);
  }

  /** Seconds left: the running unit's steps by their rate, then the remaining units by the mean unit time. */
  private eta(): number {
    const now = performance.now();
    const unitElapsed = (now - this.unitStart) / 1000;
    const unitEstimate = this.inner && this.inner.done > 0 ? (unitElapsed / this.inner.done) * this.inner.total : undefined;
    const perUnit = this.computed > 0 ? (now - this.t0) / 1000 / this.computed : (unitEstimate ?? NaN);
    const running = this.inner ? 1 : 0;
    const rest = Math.max(0, this.total - this.unitsDone - running);
    const inUnitLeft = unitEstimate !== undefined ? unitEstimate - unitElapsed : running * perUnit;
    return inUnitLeft + (rest > 0 ? rest * perUnit : 0);
  }

  private stepText(): string {
    if (!this.inner) return '';
    const pct = this.inner.total > 0 ? ` (${Math.floor((100 * this.inner.done) / this.inner.total)}%)` : '';
    return `${this.unitLabel}: step ${this.inner.done}/${this.inner.total}${pct}${this.inner.detail ? `, ${this.inner.detail}` : ''}`;
  }

  private fields(): { step: string; left: string } {
    const s = this.stepText();
    return { step: s ? `| ${s}` : '', left: formatDuration(this.eta()) };
  }

  private render(force: boolean): void {
    if (this.bar) {
      this.bar.update(this.unitsDone, this.fields());
      return;
    }
    if (this.opts.mode === 'off') return;
    const now = performance.now();
    const every = (this.opts.everySeconds ?? 10) * 1000;
    if (!force && now - this.lastLine < every) return;
    this.lastLine = now;
    const s = this.stepText();
    this.log(`${this.label}: ${this.unitsDone}/${this.total} units${s ? `, ${s}` : ''}, ${formatDuration((now - this.t0) / 1000)} elapsed, eta ${formatDuration(this.eta())}`);
  }

  /** A line of its own about the running unit (it resumed from a checkpoint), unless progress is off. */
  note(text: string): void {
    if (this.opts.mode === 'off') return;
    this.log(`${this.label}: ${this.unitLabel}: ${text}`);
  }

  /** Waiting for units other processes hold. */
  waiting(units: number): void {
    if (this.opts.mode === 'lines') {
      const now = performance.now();
      if (now - this.lastLine < (this.opts.everySeconds ?? 10) * 1000) return;
      this.lastLine = now;
      this.log(`${this.label}: ${this.unitsDone}/${this.total} units, waiting for ${units} unit(s) other processes are computing`);
    }
  }

  /** The point is complete: one closing line in 'lines' mode. */
  finished(): void {
    if (this.opts.mode === 'lines') {
      this.log(`${this.label}: ${this.total}/${this.total} units done (${this.computed} computed here), ${formatDuration((performance.now() - this.t0) / 1000)}`);
    }
  }

  stop(): void {
    this.bar?.stop();
  }
}
