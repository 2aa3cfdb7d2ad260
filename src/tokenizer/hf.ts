// A Hugging Face `tokenizer.json` (GPT-2 byte-level BPE, or a Llama SentencePiece-BPE export) behind
// patchwise's Tokenizer interface, using @huggingface/tokenizers for all of the actual tokenizing.
import { Tokenizer as HfTokenizerClass } from '@huggingface/tokenizers';
import { UserError } from '../core/errors.js';
import { displayBytes, displayText, sentencePieceDisplay } from './display.js';
import type { Tokenizer } from './types.js';

/** The parsed contents of a tokenizer.json; the library validates the parts it uses. */
export type TokenizerJson = Record<string, unknown>;

// The part of the library's Tokenizer that is used here, typed by hand: the package's declaration
// files use extension-less relative imports, which NodeNext resolution cannot follow, so under this
// project's settings the class arrives untyped.
interface HfTokenizer {
  encode(text: string, options: { add_special_tokens: boolean }): { ids: number[] };
  decode(ids: number[], options: { skip_special_tokens: boolean; clean_up_tokenization_spaces: boolean }): string;
  token_to_id(token: string): number | undefined;
  id_to_token(id: number): string | undefined;
  get_vocab(withAddedTokens: boolean): Map<string, number>;
  get_added_tokens_decoder(): Map<number, unknown>;
  /** A ByteLevel decoder has the byte-to-character table inverted: character -> byte. */
  decoder: { byte_decoder?: Record<string, number | string> } | null;
}

/** Whether a tokenizer.json is byte-level (GPT-2 style): its decoder, or one in its sequence, is ByteLevel. */
export function isByteLevel(json: TokenizerJson): boolean {
  const types = (part: unknown): string[] => {
    if (typeof part !== 'object' || part === null) return [];
    const { type, decoders } = part as { type?: unknown; decoders?: unknown };
    return [...(typeof type === 'string' ? [type] : []), ...(Array.isArray(decoders) ? decoders.flatMap(types) : [])];
  };
  return types(json.decoder).includes('ByteLevel');
}

/**
 * Wraps a tokenizer.json. Byte-level ones are kind 'gpt2-bpe' (each character of a piece stands for
 * one byte); the others 'sentencepiece' (pieces use '▁' for space and `<0xNN>` for bytes).
 * `tokenizerConfig` is tokenizer_config.json where there is one; its eos_token names EOS. `source`
 * names the files in error messages.
 */
export function hfTokenizer(json: TokenizerJson, tokenizerConfig: Record<string, unknown>, source: string): Tokenizer {
  const kind: Tokenizer['kind'] = isByteLevel(json) ? 'gpt2-bpe' : 'sentencepiece';
  let hf: HfTokenizer;
  try {
    // Decoding must give back the text exactly, so the "clean up spaces before punctuation" pass
    // that transformers applies by default is turned off.
    hf = new HfTokenizerClass(json, { ...tokenizerConfig, clean_up_tokenization_spaces: false }) as HfTokenizer;
  } catch (err) {
    throw new UserError(`cannot load the tokenizer in ${source}: ${(err as Error).message}`);
  }
  const vocab = hf.get_vocab(true);
  let vocabSize = 0;
  for (const id of vocab.values()) vocabSize = Math.max(vocabSize, id + 1);
  const added = hf.get_added_tokens_decoder();

  const idOf = (token: unknown): number | undefined => {
    // tokenizer_config.json writes special tokens either as strings or as {content: ...} objects.
    const content =
      typeof token === 'string'
        ? token
        : typeof token === 'object' && token !== null && typeof (token as { content?: unknown }).content === 'string'
          ? (token as { content: string }).content
          : undefined;
    return content === undefined ? undefined : hf.token_to_id(content);
  };
  // BOS is whatever the tokenizer's own post-processor puts before the text (Llama's <s>; GPT-2 none).
  const bare = hf.encode('a', { add_special_tokens: false }).ids;
  const withSpecial = hf.encode('a', { add_special_tokens: true }).ids;
  const bosId = withSpecial.length > bare.length && withSpecial[0] !== bare[0] ? withSpecial[0] : undefined;
  const eosId = idOf(tokenizerConfig.eos_token) ?? hf.token_to_id(kind === 'sentencepiece' ? '</s>' : '<|endoftext|>');

  const byteOf = kind === 'gpt2-bpe' ? hf.decoder?.byte_decoder : undefined;

  const checkId = (id: number): void => {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new UserError(`token id ${id} is outside the vocabulary of ${source} (0..${vocabSize - 1})`);
    }
  };

  return {
    kind,
    vocabSize,
    source,
    ...(bosId === undefined ? {} : { bosId }),
    ...(eosId === undefined ? {} : { eosId }),
    encode(text: string): number[] {
      return hf.encode(text, { add_special_tokens: false }).ids;
    },
    decode(ids: readonly number[]): string {
      ids.forEach(checkId);
      // The library refuses an empty list; an empty list is empty text.
      if (ids.length === 0) return '';
      return hf.decode([...ids], { skip_special_tokens: true, clean_up_tokenization_spaces: false });
    },
    tokenText(id: number): string {
      checkId(id);
      const piece = hf.id_to_token(id) ?? '';
      if (added.has(id)) return displayText(piece);
      if (kind === 'sentencepiece') return sentencePieceDisplay(piece);
      // Byte-level pieces spell bytes as characters; map them back to show partial UTF-8 honestly.
      if (byteOf !== undefined) return displayBytes(Array.from(piece, (ch) => Number(byteOf[ch] ?? 0)));
      return displayText(hf.decode([id], { skip_special_tokens: false, clean_up_tokenization_spaces: false }));
    },
  };
}
