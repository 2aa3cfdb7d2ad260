// How well estimated node effects agree with exact ones (src/evaluation/method-agreement.ts), one
// row per (exact run, estimate run). Written and read through AgreementSchema, so a reader gets a
// typed value or a clear error naming the runs.
import { z } from 'zod';
import { UserError } from '../core/errors.js';
import type { EffectAgreement } from '../evaluation/method-agreement.js';
import type { Connection } from './connection.js';
import { canonicalJson, parseJson } from './json.js';
import { detailProblem } from './stage-detail.js';

const correlation = z.number().min(-1).max(1).nullable();
const fraction = z.number().min(0).max(1);
const count = z.number().int().nonnegative();

export const AgreementSchema = z.object({
  n: count,
  pearson: correlation,
  spearman: correlation,
  signAgreement: fraction,
  topK: z.array(z.object({ k: z.number().int().positive(), shared: count, fraction })).readonly(),
  detections: z.object({ exact: count, estimate: count, both: count, jaccard: fraction }),
});

// The schema and the evaluation's type must stay one shape.
type Stored = z.infer<typeof AgreementSchema>;
const _sameShape: [Stored extends EffectAgreement ? true : false, EffectAgreement extends Stored ? true : false] = [true, true];
void _sameShape;

export interface AgreementRecord {
  readonly exactRunId: number;
  readonly estimateRunId: number;
  readonly agreement: EffectAgreement;
  readonly computedAt: string;
}

export class AgreementStore {
  constructor(private readonly conn: Connection) {}

  /** Saves the agreement of two runs, replacing an earlier one of the same pair. */
  async save(exactRunId: number, estimateRunId: number, agreement: EffectAgreement): Promise<void> {
    const where = `agreement of runs ${exactRunId} (exact) and ${estimateRunId} (estimate)`;
    if (exactRunId === estimateRunId) throw new Error(`agreements.save: ${where}: a run cannot be compared with itself`);
    const parsed = AgreementSchema.safeParse(agreement);
    if (!parsed.success) throw new Error(`agreements.save: ${where}: ${detailProblem(parsed.error)}`);
    const text = canonicalJson(parsed.data, where);
    return this.conn.transaction(async () => {
      await this.conn.run(
        `INSERT INTO method_agreements (exact_run_id, estimate_run_id, agreement) VALUES (?, ?, ?)
         ON CONFLICT (exact_run_id, estimate_run_id) DO UPDATE SET agreement = excluded.agreement, computed_at = (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))`,
        [exactRunId, estimateRunId, text],
      );
    });
  }

  /** Every agreement a run takes part in (as the exact or the estimate side), ordered by the other run. */
  async forRun(runId: number): Promise<AgreementRecord[]> {
    const rows = await this.conn.lock(() =>
      this.conn.all<{ exact_run_id: number; estimate_run_id: number; agreement: string; computed_at: string }>(
        `SELECT exact_run_id, estimate_run_id, agreement, computed_at FROM method_agreements
         WHERE exact_run_id = ? OR estimate_run_id = ? ORDER BY exact_run_id + estimate_run_id - ?`,
        [runId, runId, runId],
      ),
    );
    return rows.map((r) => {
      const parsed = AgreementSchema.safeParse(parseJson(r.agreement));
      if (!parsed.success) {
        throw new UserError(`${this.conn.path}: agreement of runs ${r.exact_run_id} and ${r.estimate_run_id} does not fit its schema: ${detailProblem(parsed.error)}`);
      }
      return { exactRunId: r.exact_run_id, estimateRunId: r.estimate_run_id, agreement: parsed.data, computedAt: r.computed_at };
    });
  }
}
