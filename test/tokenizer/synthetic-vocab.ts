import { hexByte } from '../../src/tokenizer/display.js';
import { TokenType, type SentencePieceVocab } from '../../src/tokenizer/sentencepiece.js';

/** A Llama-shaped vocabulary: <unk>, <s>, </s>, 256 byte tokens, then the given pieces and scores. */
export function syntheticVocab(pieces: readonly (readonly [string, number])[], options: Partial<SentencePieceVocab> = {}): SentencePieceVocab {
  const bytes = Array.from({ length: 256 }, (_, b) => hexByte(b));
  return {
    tokens: ['<unk>', '<s>', '</s>', ...bytes, ...pieces.map(([p]) => p)],
    scores: [0, 0, 0, ...bytes.map(() => 0), ...pieces.map(([, s]) => s)],
    tokenTypes: [TokenType.unknown, TokenType.control, TokenType.control, ...bytes.map(() => TokenType.byte), ...pieces.map(() => TokenType.normal)],
    bosId: 1,
    eosId: 2,
    unkId: 0,
    ...options,
  };
}
