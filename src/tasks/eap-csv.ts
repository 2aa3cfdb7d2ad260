// The prompt-pair CSV files of EAP-IG and the MIB benchmark (IOI and the like): a header row, then
// one pair per row with columns `clean`, `corrupted` (prompt texts), `correct_idx` and, where there
// is one, `incorrect_idx` (the answer and the competing answer as token ids of the model's
// tokenizer). Each row becomes a paired-jsonl line, so the rows are checked like any other line.
import { UserError } from '../core/errors.js';
import type { PairLine } from './paired-jsonl.js';

/** RFC 4180 CSV: comma-separated fields, double-quoted where they hold commas, quotes or newlines. */
export function parseCsv(text: string, file: string): { row: number; fields: string[] }[] {
  const rows: { row: number; fields: string[] }[] = [];
  let fields: string[] = [];
  let field = '';
  let quoted = false;
  let line = 1;
  let rowStart = 1;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else {
        if (ch === '\n') line++;
        field += ch;
      }
    } else if (ch === '"' && field === '') quoted = true;
    else if (ch === ',') {
      fields.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      fields.push(field);
      if (fields.length > 1 || fields[0] !== '') rows.push({ row: rowStart, fields });
      fields = [];
      field = '';
      line++;
      rowStart = line;
    } else field += ch;
  }
  if (quoted) throw new UserError(`${file} line ${rowStart}: a quoted field is never closed`);
  fields.push(field);
  if (fields.length > 1 || fields[0] !== '') rows.push({ row: rowStart, fields });
  return rows;
}

const REQUIRED = ['clean', 'corrupted', 'correct_idx'] as const;

/** The pairs of an EAP-IG / MIB CSV file as paired-jsonl lines (`line` is the row's line in the file). */
export function eapCsvLines(text: string, file: string): { line: number; value: PairLine }[] {
  const [header, ...rows] = parseCsv(text, file);
  if (header === undefined) throw new UserError(`${file}: empty (expected a header row: ${REQUIRED.join(',')},incorrect_idx)`);
  const column = new Map(header.fields.map((name, i) => [name.trim(), i]));
  const missing = REQUIRED.filter((name) => !column.has(name));
  if (missing.length > 0) throw new UserError(`${file}: the header has no column ${missing.join(', ')} (columns: ${header.fields.join(', ')})`);
  if (rows.length === 0) throw new UserError(`${file}: no prompt pairs after the header`);
  return rows.map(({ row, fields }) => {
    if (fields.length !== header.fields.length) {
      throw new UserError(`${file} line ${row}: ${fields.length} fields, the header has ${header.fields.length}`);
    }
    const cell = (name: string): string | undefined => {
      const i = column.get(name);
      return i === undefined ? undefined : fields[i];
    };
    const id = (name: string): number | undefined => {
      const raw = cell(name)?.trim();
      if (raw === undefined || (raw === '' && name === 'incorrect_idx')) return undefined;
      if (!/^\d+$/.test(raw)) throw new UserError(`${file} line ${row}: ${name}: expected a token id, got ${JSON.stringify(raw)}`);
      return Number(raw);
    };
    const answer = id('correct_idx')!;
    const wrong = id('incorrect_idx');
    const value: PairLine = { clean: cell('clean')!, corrupted: cell('corrupted')!, answer_id: answer, ...(wrong === undefined ? {} : { wrong_id: wrong }) };
    for (const name of ['clean', 'corrupted'] as const) if (value[name] === '') throw new UserError(`${file} line ${row}: ${name}: empty prompt`);
    return { line: row, value };
  });
}
