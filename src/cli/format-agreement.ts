// How an AtP run agrees with its exact run, as table columns: shared by `patchwise run` (one row per
// compared pair of the pipeline) and `patchwise show` (the pairs a run takes part in).
import type { EffectAgreement } from '../evaluation/method-agreement.js';
import type { Column } from './format-table.js';
import { formatNumber } from './format-table.js';

export const AGREEMENT_COLUMNS: readonly Column[] = [
  { header: 'components', align: 'right' },
  { header: 'Pearson', align: 'right' },
  { header: 'Spearman', align: 'right' },
  { header: 'same sign', align: 'right' },
  { header: 'top-k shared (k: shared)' },
  { header: 'detected exact / AtP / both' },
];

export function agreementCells(a: EffectAgreement): string[] {
  const d = a.detections;
  return [
    String(a.n),
    formatNumber(a.pearson),
    formatNumber(a.spearman),
    formatNumber(a.signAgreement),
    a.topK.length === 0 ? '-' : a.topK.map((t) => `${t.k}: ${t.shared}`).join(', '),
    `${d.exact} / ${d.estimate} / ${d.both}`,
  ];
}

/** What the columns mean, printed under a table of them. */
export const AGREEMENT_LEGEND =
  'Over the per-component mean effects: Pearson and Spearman correlation (- where undefined), the fraction with the same sign, and the components shared by the two top-k sets by |effect| (k = 5, 10, 20 below the component count, and k = the exact detection count).';
