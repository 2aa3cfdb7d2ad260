// A Llama-2-style Hugging Face tokenizer.json built from a SentencePiece vocabulary, the way
// transformers converts a sentencepiece model: a BPE model with byte fallback whose merges are
// every split of a piece into two pieces, ranked by the merged piece's score.
import { TokenType, type SentencePieceVocab } from '../../src/tokenizer/sentencepiece.js';

export function llamaTokenizerJson(vocab: SentencePieceVocab): Record<string, unknown> {
  const { tokens, scores } = vocab;
  const idOf = new Map(tokens.map((t, i) => [t, i]));
  const merges: { left: string; right: string; score: number; leftId: number; rightId: number }[] = [];
  tokens.forEach((piece, id) => {
    if ((vocab.tokenTypes?.[id] ?? TokenType.normal) !== TokenType.normal) return;
    const chars = Array.from(piece);
    for (let k = 1; k < chars.length; k++) {
      const left = chars.slice(0, k).join('');
      const right = chars.slice(k).join('');
      const leftId = idOf.get(left);
      const rightId = idOf.get(right);
      if (leftId !== undefined && rightId !== undefined) merges.push({ left, right, score: scores[id] ?? 0, leftId, rightId });
    }
  });
  merges.sort((a, b) => b.score - a.score || a.leftId - b.leftId || a.rightId - b.rightId);

  const special = (id: number | undefined): Record<string, unknown>[] =>
    id === undefined ? [] : [{ id, content: tokens[id], single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }];
  const bos = vocab.bosId === undefined ? undefined : tokens[vocab.bosId];
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [...special(vocab.unkId), ...special(vocab.bosId), ...special(vocab.eosId)],
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: '\u2581' },
        { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' },
      ],
    },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: bos, type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { [bos ?? '']: { id: bos, ids: [vocab.bosId], tokens: [bos] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [{ type: 'Replace', pattern: { String: '\u2581' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: vocab.unkId === undefined ? null : tokens[vocab.unkId],
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab: Object.fromEntries(tokens.map((t, i) => [t, i])),
      merges: merges.map(({ left, right }) => [left, right]),
    },
  };
}
