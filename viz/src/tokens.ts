// Token labels for per-position views, from a prompt's text. The data has token ids but no token
// strings (the viewer has no tokenizer), so the text is split the way GPT-2-style byte-level BPE
// pre-tokenizes it (words with their leading space, numbers, punctuation runs); the split is used
// only when it yields exactly one piece per position, which holds whenever BPE kept every piece
// whole (and for number-token synthetic prompts), so a label is never shifted against its column.

const PIECES = /'(?:s|t|re|ve|m|ll|d)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** The prompt's tokens if the text splits into exactly `n` pieces, else null. */
export function promptTokens(text: string, n: number): string[] | null {
  const pieces = text.match(PIECES) ?? [];
  return pieces.length === n ? pieces : null;
}

/** A token as a short visible label: leading space shown as ␣, long tokens cut. */
export function tokenLabel(t: string, max = 10): string {
  const shown = t.replace(/^ /, '␣').replace(/\n/g, '⏎');
  return shown.length > max ? `${shown.slice(0, max - 1)}…` : shown;
}
