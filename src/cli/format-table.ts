// Plain-text output for the result-reading commands: aligned tables and short renderings of numbers
// and setting values.

export interface Column {
  readonly header: string;
  /** Numbers read best right-aligned. Default 'left'. */
  readonly align?: 'left' | 'right';
}

/** An aligned table: header, a dashed rule, then the rows; columns separated by two spaces. */
export function formatTable(columns: readonly (Column | string)[], rows: readonly (readonly string[])[]): string {
  const cols = columns.map((c) => (typeof c === 'string' ? { header: c } : c));
  const widths = cols.map((c, i) => Math.max(c.header.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cols
      .map((c, i) => {
        const w = widths[i] ?? 0;
        const cell = cells[i] ?? '';
        return c.align === 'right' ? cell.padStart(w) : cell.padEnd(w);
      })
      .join('  ')
      .trimEnd();
  return [line(cols.map((c) => c.header)), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** Four decimals for effects of ordinary size, exponent notation for tiny or huge ones. */
export function formatNumber(x: number | null | undefined): string {
  if (x === null || x === undefined) return '-';
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return x.toExponential(2);
  return x.toFixed(4);
}

/** z-scores need no more than two decimals. */
export function formatZ(z: number): string {
  return Number.isFinite(z) ? z.toFixed(2) : String(z);
}

/** Seconds as '12.3' (or '-' when unknown). */
export function formatSeconds(s: number | null | undefined): string {
  return s === null || s === undefined ? '-' : s.toFixed(1);
}

/**
 * A setting value on one line: strings bare, objects as `kind k=v ...` (the `kind`, `type` or
 * `name` field first, since it says what the rest is about), arrays comma-separated.
 */
export function formatValue(v: unknown): string {
  if (v === undefined) return '-';
  if (v === null) return 'null';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return v.map(formatValue).join(',');
  if (typeof v === 'object') {
    const rec = v as Record<string, unknown>;
    const lead = ['kind', 'type', 'name'].find((k) => typeof rec[k] === 'string');
    const rest = Object.keys(rec)
      .filter((k) => k !== lead)
      .map((k) => {
        const x = rec[k];
        return `${k}=${typeof x === 'object' && x !== null ? JSON.stringify(x) : formatValue(x)}`;
      });
    return [...(lead === undefined ? [] : [rec[lead] as string]), ...rest].join(' ');
  }
  return String(v);
}

/** A component with its position and window when they narrow it: `a3.h2`, `a3.h2 [pos 5]`, `mlp@L3 [window 3]`. */
export function formatComponent(c: { component: string; position: number | null; window: number }): string {
  const extra = [...(c.position === null ? [] : [`pos ${c.position}`]), ...(c.window === 1 ? [] : [`window ${c.window}`])];
  return extra.length === 0 ? c.component : `${c.component} [${extra.join(', ')}]`;
}
