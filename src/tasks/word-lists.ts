// The word lists tasks draw from (data/*.txt): plain text, one entry per line; blank lines and
// lines starting with '#' are skipped, so the files can carry a short note on where they came from.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../core/errors.js';

/** The entries of `dataDir/file`, trimmed, without repeats, in file order. */
export function readWordList(dataDir: string, file: string): string[] {
  const path = join(dataDir, file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UserError(`${path}: cannot read the word list (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const words = [
    ...new Set(
      text
        .split(/\r?\n/)
        .map((line) => line.trim())
        .filter((line) => line !== '' && !line.startsWith('#')),
    ),
  ];
  if (words.length === 0) throw new UserError(`${path}: the word list is empty`);
  return words;
}
