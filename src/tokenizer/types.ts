/** What patchwise needs of a tokenizer: exact ids both ways and a readable form of single tokens. */
export interface Tokenizer {
  readonly kind: 'gpt2-bpe' | 'sentencepiece';
  readonly vocabSize: number;
  /** The files it was read from (or the bundled table), for `model info`. */
  readonly source?: string;
  /** Token prepended to every prompt when the model expects one (Llama's BOS); GPT-2 has none. */
  readonly bosId?: number;
  readonly eosId?: number;
  /** Text to ids, without BOS. */
  encode(text: string): number[];
  /** Ids to text (BOS/EOS and other control tokens dropped). */
  decode(ids: readonly number[]): string;
  /** The display form of one token (for tables and the viewer). */
  tokenText(id: number): string;
}
