// GPT-2's vocab.json and merges.txt, rebuilt from gpt-tokenizer's r50k_base ranks: `model init`
// writes them beside a random GPT-2-shaped model (so its tokenizer is explicit, never a silent
// substitute), and tests check the Hugging Face code path against the bundled one with them.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pieces from 'gpt-tokenizer/bpeRanks/r50k_base';

/** GPT-2's byte -> printable character table (bytes_to_unicode in OpenAI's encoder.py). */
function bytesToUnicode(): string[] {
  const table: string[] = [];
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table[b] = String.fromCharCode(printable ? b : 256 + extra++);
  }
  return table;
}

export interface Gpt2Files {
  vocab: Record<string, number>;
  merges: [string, string][];
}

/**
 * Ranks are GPT-2 ids; each multi-byte token's merge is found by byte-pair-encoding its bytes with
 * only the lower-ranked tokens, which leaves exactly the two parts it was merged from.
 */
export function gpt2FilesFromRanks(): Gpt2Files {
  const byteChar = bytesToUnicode();
  const encoder = new TextEncoder();
  const bytesOf = (piece: string | readonly number[]): number[] => (typeof piece === 'string' ? Array.from(encoder.encode(piece)) : [...piece]);
  const key = (bytes: readonly number[]): string => String.fromCharCode(...bytes);
  const rankOf = new Map<string, number>();
  pieces.forEach((piece, rank) => rankOf.set(key(bytesOf(piece)), rank));

  const vocab: Record<string, number> = {};
  const merges: [string, string][] = [];
  pieces.forEach((piece, rank) => {
    const bytes = bytesOf(piece);
    vocab[bytes.map((b) => byteChar[b]).join('')] = rank;
    if (bytes.length < 2) return;
    let parts = bytes.map((b) => [b]);
    for (;;) {
      let best = -1;
      let bestRank = rank;
      for (let i = 0; i + 1 < parts.length; i++) {
        const r = rankOf.get(key([...(parts[i] ?? []), ...(parts[i + 1] ?? [])]));
        if (r !== undefined && r < bestRank) [best, bestRank] = [i, r];
      }
      if (best < 0) break;
      parts = [...parts.slice(0, best), [...(parts[best] ?? []), ...(parts[best + 1] ?? [])], ...parts.slice(best + 2)];
    }
    if (parts.length !== 2) throw new Error(`token ${rank} does not split into two lower-ranked tokens`);
    const [a, b] = parts.map((p) => p.map((x) => byteChar[x]).join(''));
    merges.push([a ?? '', b ?? '']);
  });
  vocab['<|endoftext|>'] = 50256;
  return { vocab, merges };
}

/** merges.txt as transformers writes it. */
export function mergesTxt(merges: readonly (readonly [string, string])[]): string {
  return ['#version: 0.2', ...merges.map(([a, b]) => `${a} ${b}`)].join('\n') + '\n';
}

/** GPT-2's vocabulary size: 50256 BPE tokens and <|endoftext|>. */
export const GPT2_VOCAB_SIZE = 50257;

/** Writes GPT-2's vocab.json and merges.txt into a model directory. */
export function writeGpt2TokenizerFiles(dir: string): void {
  const { vocab, merges } = gpt2FilesFromRanks();
  writeFileSync(join(dir, 'vocab.json'), JSON.stringify(vocab));
  writeFileSync(join(dir, 'merges.txt'), mergesTxt(merges));
}
