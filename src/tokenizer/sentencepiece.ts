// The SentencePiece (BPE-mode) tokenizer of Llama-family GGUF files, following llama.cpp's
// llm_tokenizer_spm: whitespace becomes '▁', text is split into characters, and the adjacent pair
// whose concatenation is the highest-scoring vocabulary token is merged until none is left.
// Characters that end up outside the vocabulary fall back to one `<0xNN>` token per UTF-8 byte.
import { UserError } from '../core/errors.js';
import { bytePieceValue, hexByte, sentencePieceDisplay } from './display.js';
import { Heap } from './heap.js';
import type { Tokenizer } from './types.js';

/** GGUF's tokenizer.ggml.token_type values (llama.cpp's llama_token_type). */
export const TokenType = {
  undefined: 0,
  normal: 1,
  unknown: 2,
  control: 3,
  userDefined: 4,
  unused: 5,
  byte: 6,
} as const;

/** A SentencePiece vocabulary as a GGUF file stores it (tokenizer.ggml.*). */
export interface SentencePieceVocab {
  tokens: readonly string[];
  scores: readonly number[];
  /** One of TokenType per token; where absent, inferred from the special ids and `<0xNN>` spelling. */
  tokenTypes?: readonly number[];
  bosId?: number;
  eosId?: number;
  unkId?: number;
  /** Prepend '▁' to the text so that its first word is spelled like every other (default true, as for Llama). */
  addSpacePrefix?: boolean;
}

const SPACE = ' ';
const META_SPACE = '\u2581';

interface Bigram {
  left: number;
  right: number;
  score: number;
  /** Length of the merged text when queued: a later merge of either side makes the entry stale. */
  size: number;
}

// Highest score first; between equal scores the leftmost pair, as llama.cpp's queue orders them.
const bigramFirst = (a: Bigram, b: Bigram): boolean => a.score > b.score || (a.score === b.score && a.left < b.left);

/** A tokenizer for a SentencePiece vocabulary; encoding matches llama.cpp's (without special-token parsing). */
export function sentencePieceTokenizer(vocab: SentencePieceVocab): Tokenizer {
  const { tokens, scores } = vocab;
  const vocabSize = tokens.length;
  if (vocabSize === 0) throw new UserError('the SentencePiece vocabulary is empty');
  if (scores.length !== vocabSize) {
    throw new UserError(`the SentencePiece vocabulary has ${vocabSize} tokens but ${scores.length} scores`);
  }
  if (vocab.tokenTypes !== undefined && vocab.tokenTypes.length !== vocabSize) {
    throw new UserError(`the SentencePiece vocabulary has ${vocabSize} tokens but ${vocab.tokenTypes.length} token types`);
  }
  for (const [name, id] of [
    ['BOS', vocab.bosId],
    ['EOS', vocab.eosId],
    ['unknown', vocab.unkId],
  ] as const) {
    if (id !== undefined && !(Number.isInteger(id) && id >= 0 && id < vocabSize)) {
      throw new UserError(`the ${name} token id ${id} is outside the SentencePiece vocabulary (0..${vocabSize - 1})`);
    }
  }
  const addSpacePrefix = vocab.addSpacePrefix ?? true;
  // llama.cpp holds scores as float32, so pairs are ranked (and tied) as float32 values.
  const score32 = Float32Array.from(scores);

  // Where a piece is listed twice the later id wins, as in llama.cpp's token_to_id map.
  const idOf = new Map<string, number>();
  tokens.forEach((piece, id) => idOf.set(piece, id));

  const typeOf = (id: number): number => {
    const given = vocab.tokenTypes?.[id];
    if (given !== undefined) return given;
    if (id === vocab.bosId || id === vocab.eosId) return TokenType.control;
    if (id === vocab.unkId) return TokenType.unknown;
    return bytePieceValue(tokens[id] ?? '') === undefined ? TokenType.normal : TokenType.byte;
  };

  // llama.cpp's byte_to_token: the `<0xNN>` piece, else an ASCII byte's own character.
  const byteIds = Array.from({ length: 256 }, (_, byte) => {
    return idOf.get(hexByte(byte)) ?? (byte < 0x80 ? idOf.get(String.fromCharCode(byte)) : undefined) ?? vocab.unkId;
  });
  const utf8Encoder = new TextEncoder();

  const pushBytes = (text: string, out: number[]): void => {
    for (const byte of utf8Encoder.encode(text)) {
      const id = byteIds[byte];
      if (id === undefined) {
        throw new UserError(`cannot encode ${JSON.stringify(text)}: the vocabulary has neither it, nor the byte token ${hexByte(byte)}, nor an unknown token`);
      }
      out.push(id);
    }
  };

  const checkId = (id: number): void => {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new UserError(`token id ${id} is outside the SentencePiece vocabulary (0..${vocabSize - 1})`);
    }
  };

  return {
    kind: 'sentencepiece',
    vocabSize,
    ...(vocab.bosId === undefined ? {} : { bosId: vocab.bosId }),
    ...(vocab.eosId === undefined ? {} : { eosId: vocab.eosId }),

    encode(input: string): number[] {
      // As llama.cpp: empty text is no tokens, not a lone '▁'.
      if (input === '') return [];
      const text = ((addSpacePrefix ? SPACE : '') + input).replaceAll(SPACE, META_SPACE);

      // Symbols are runs of the text (start, length in UTF-16 units) in a doubly linked list; a
      // merge grows the left symbol and empties the right one, so index 0 always heads the list.
      const starts: number[] = [];
      for (let i = 0; i < text.length; ) {
        starts.push(i);
        i += (text.codePointAt(i) ?? 0) > 0xffff ? 2 : 1;
      }
      const n = starts.length;
      const start = Int32Array.from(starts);
      const length = Int32Array.from(starts, (s, i) => (starts[i + 1] ?? text.length) - s);
      const prev = Int32Array.from(starts, (_, i) => i - 1);
      const next = Int32Array.from(starts, (_, i) => (i + 1 < n ? i + 1 : -1));

      const queue = new Heap<Bigram>(bigramFirst);
      const tryAddBigram = (left: number, right: number): void => {
        if (left < 0 || right < 0) return;
        const size = (length[left] ?? 0) + (length[right] ?? 0);
        const from = start[left] ?? 0;
        const id = idOf.get(text.slice(from, from + size));
        if (id === undefined) return;
        queue.push({ left, right, score: score32[id] ?? 0, size });
      };
      for (let i = 1; i < n; i++) tryAddBigram(i - 1, i);

      for (let bigram = queue.pop(); bigram !== undefined; bigram = queue.pop()) {
        const { left, right } = bigram;
        const leftLength = length[left] ?? 0;
        const rightLength = length[right] ?? 0;
        if (leftLength === 0 || rightLength === 0 || leftLength + rightLength !== bigram.size) continue;
        length[left] = leftLength + rightLength;
        length[right] = 0;
        const after = next[right] ?? -1;
        next[left] = after;
        if (after >= 0) prev[after] = left;
        tryAddBigram(prev[left] ?? -1, left);
        tryAddBigram(left, after);
      }

      const ids: number[] = [];
      for (let i = 0; i !== -1; i = next[i] ?? -1) {
        const from = start[i] ?? 0;
        const piece = text.slice(from, from + (length[i] ?? 0));
        const id = idOf.get(piece);
        if (id !== undefined) ids.push(id);
        else pushBytes(piece, ids);
      }
      return ids;
    },

    decode(ids: readonly number[]): string {
      const bytes: number[] = [];
      for (const id of ids) {
        checkId(id);
        const piece = tokens[id] ?? '';
        switch (typeOf(id)) {
          case TokenType.control:
          case TokenType.unknown:
          case TokenType.unused:
            break;
          case TokenType.byte:
            bytes.push(bytePieceValue(piece) ?? 0);
            break;
          default:
            bytes.push(...utf8Encoder.encode(piece.replaceAll(META_SPACE, SPACE)));
        }
      }
      // The space that encode prepended is not part of the text (SentencePiece's decode drops it too;
      // llama.cpp keeps it when a leading BOS was removed, which would make decode(encode(x)) differ).
      const start = addSpacePrefix && bytes[0] === 0x20 ? 1 : 0;
      return new TextDecoder('utf-8', { ignoreBOM: true }).decode(Uint8Array.from(bytes.slice(start)));
    },

    tokenText(id: number): string {
      checkId(id);
      return sentencePieceDisplay(tokens[id] ?? '');
    },
  };
}
