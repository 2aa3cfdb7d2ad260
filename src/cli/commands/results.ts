// `patchwise results`: the runs in a results database, one line each.
import type { CommandModule } from 'yargs';
import { isJsonObject } from '../../store/json.js';
import { Store } from '../../store/store.js';
import type { RunSummary } from '../../store/types.js';
import { formatSeconds, formatTable, formatValue, type Column } from '../format-table.js';

/** Settings shown as columns, in this order; a column no listed run has is left out. */
const SETTING_COLUMNS = ['corruption', 'metric', 'direction', 'granularity', 'window'] as const;

export function runsTable(runs: readonly RunSummary[]): string {
  const settingOf = (r: RunSummary, k: string): unknown => (isJsonObject(r.settings) ? r.settings[k] : undefined);
  const shown = SETTING_COLUMNS.filter((k) => runs.some((r) => settingOf(r, k) !== undefined));
  const columns: Column[] = [
    { header: 'id', align: 'right' },
    { header: 'pipeline' },
    { header: 'task' },
    { header: 'model' },
    ...shown.map((k) => ({ header: k })),
    { header: 'status' },
    { header: 'units', align: 'right' },
    { header: 'detections', align: 'right' },
    { header: 'seconds', align: 'right' },
  ];
  const rows = runs.map((r) => [
    String(r.id),
    r.pipeline,
    r.task,
    r.model,
    ...shown.map((k) => formatValue(settingOf(r, k))),
    r.status,
    String(r.units),
    String(r.detections),
    formatSeconds(r.seconds),
  ]);
  return formatTable(columns, rows);
}

export const resultsCommand: CommandModule<object, { db: string; pipeline?: string; json: boolean }> = {
  command: 'results',
  describe: 'List the runs in a results database: settings, status, detections and time',
  builder: (y) =>
    y
      .option('db', { type: 'string', default: 'patchwise.db', describe: 'results database' })
      .option('pipeline', { type: 'string', describe: 'only the runs of this pipeline' })
      .option('json', { type: 'boolean', default: false, describe: 'print the runs as a JSON array' })
      .example('$0 results --pipeline ioi-grid', 'the runs of one pipeline'),
  handler: async (argv) => {
    const store = await Store.open(argv.db, { create: false });
    try {
      const runs = await store.runs.list(argv.pipeline === undefined ? {} : { pipeline: argv.pipeline });
      if (argv.json) {
        console.log(JSON.stringify(runs, null, 2));
        return;
      }
      if (runs.length === 0) {
        console.log(argv.pipeline === undefined ? `no runs in ${argv.db}` : `no runs of pipeline ${argv.pipeline} in ${argv.db}`);
        return;
      }
      console.log(runsTable(runs));
    } finally {
      await store.close();
    }
  },
};
