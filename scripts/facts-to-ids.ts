// Turns a text file of paired prompts (paired-jsonl, e.g. data/facts.jsonl) into the same pairs as
// GPT-2 token ids (data/facts.gpt2-ids.jsonl), for GPT-2-shaped models without tokenizer files
// (random weights). The pairs are built by the paired-jsonl task itself with GPT-2's tokenizer
// (gpt-tokenizer's r50k_base; GPT-2 adds no BOS), so the id file means the same with real GPT-2 weights.
//   npx tsx scripts/facts-to-ids.ts [data/facts.jsonl] [data/facts.gpt2-ids.jsonl]
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { buildDataset } from '../src/tasks/registry.js';
import { idLine } from '../src/tasks/paired-jsonl.js';
import { gpt2Tokenizer } from '../src/tokenizer/gpt2.js';

/** The id lines of a text pairs file, as the file's text (one JSON object per line). */
export async function gpt2IdLines(textFile: string): Promise<string> {
  const tokenizer = await gpt2Tokenizer();
  const file = resolve(textFile);
  const ctx = { tokenizer, vocabSize: tokenizer.vocabSize, dataDir: dirname(file), baseDir: dirname(file) };
  const count = readFileSync(file, 'utf8')
    .split(/\r?\n/)
    .filter((l) => l.trim() !== '').length;
  const dataset = buildDataset(ctx, { task: 'paired-jsonl', options: { file }, seed: 0, count });
  return dataset.pairs.map((p) => JSON.stringify(idLine(p))).join('\n') + '\n';
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [input = 'data/facts.jsonl', output = 'data/facts.gpt2-ids.jsonl'] = process.argv.slice(2);
  const text = await gpt2IdLines(input);
  writeFileSync(output, text);
  console.log(`wrote ${text.trim().split('\n').length} pairs to ${output}`);
}
