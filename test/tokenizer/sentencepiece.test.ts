import { describe, expect, it } from 'vitest';
import { UserError } from '../../src/core/errors.js';
import { hexByte } from '../../src/tokenizer/display.js';
import { Heap } from '../../src/tokenizer/heap.js';
import { sentencePieceTokenizer, type SentencePieceVocab } from '../../src/tokenizer/sentencepiece.js';
import { syntheticVocab } from './synthetic-vocab.js';
import { Random } from '../../src/core/random.js';

const FIRST_PIECE = 3 + 256;

/** The SPM merge rule stated directly: merge the best-scoring adjacent pair (leftmost on ties) until none is left. */
function referenceEncode(vocab: SentencePieceVocab, input: string): number[] {
  if (input === '') return [];
  const idOf = new Map(vocab.tokens.map((t, i) => [t, i]));
  const score = (text: string): number | undefined => {
    const id = idOf.get(text);
    return id === undefined ? undefined : Math.fround(vocab.scores[id] ?? 0);
  };
  const symbols = Array.from(((vocab.addSpacePrefix ?? true) ? ' ' : '') + input).map((c) => (c === ' ' ? '\u2581' : c));
  for (;;) {
    let best = -1;
    let bestScore = -Infinity;
    for (let i = 0; i + 1 < symbols.length; i++) {
      const s = score((symbols[i] ?? '') + (symbols[i + 1] ?? ''));
      if (s !== undefined && (best < 0 || s > bestScore)) [best, bestScore] = [i, s];
    }
    if (best < 0) break;
    symbols.splice(best, 2, (symbols[best] ?? '') + (symbols[best + 1] ?? ''));
  }
  return symbols.flatMap((s) => {
    const id = idOf.get(s);
    return id !== undefined ? [id] : Array.from(new TextEncoder().encode(s), (b) => idOf.get(hexByte(b)) ?? -1);
  });
}

describe('SentencePiece tokenizer (synthetic vocabulary)', () => {
  const pieces: [string, number][] = [
    ['\u2581', -10],
    ['a', -11],
    ['b', -12],
    ['c', -13],
    ['\u2581a', -3],
    ['ab', -2],
    ['bc', -1],
    ['abc', -4],
    ['aa', -5],
    ['\u2581ab', -6],
  ];
  const vocab = syntheticVocab(pieces);
  const tok = sentencePieceTokenizer(vocab);
  const id = (piece: string): number => vocab.tokens.indexOf(piece);

  it('describes itself', () => {
    expect(tok.kind).toBe('sentencepiece');
    expect(tok.vocabSize).toBe(FIRST_PIECE + pieces.length);
    expect(tok.bosId).toBe(1);
    expect(tok.eosId).toBe(2);
  });

  it('merges the highest-scoring pair first, not the leftmost', () => {
    // '▁abc': bc (-1) beats ab (-2) and ▁a (-3); then ▁a (-3) beats a+bc (-4); '▁abc' is no token.
    expect(tok.encode('abc')).toEqual([id('\u2581a'), id('bc')]);
    // Without 'bc' and with '▁abc': ab (-2) first, then abc (-4) beats ▁ab (-6), then ▁abc (-7).
    const noBcVocab = syntheticVocab([...pieces.filter(([p]) => p !== 'bc'), ['\u2581abc', -7]]);
    expect(sentencePieceTokenizer(noBcVocab).encode('abc')).toEqual([noBcVocab.tokens.indexOf('\u2581abc')]);
  });

  it('breaks ties between equal scores leftmost', () => {
    const noPrefix = sentencePieceTokenizer({ ...vocab, addSpacePrefix: false });
    expect(noPrefix.encode('aaa')).toEqual([id('aa'), id('a')]);
    expect(noPrefix.encode('aaaaa')).toEqual([id('aa'), id('aa'), id('a')]);
  });

  it('compares scores as float32, as llama.cpp stores them', () => {
    // -1.00000001 and -1.00000002 are the same float32, so this is a tie and the left pair wins.
    const v = syntheticVocab(
      [
        ['x', -5],
        ['y', -5],
        ['xy', -1.00000002],
        ['yx', -1.00000001],
      ],
      { addSpacePrefix: false },
    );
    const t = sentencePieceTokenizer(v);
    expect(t.encode('xyx')).toEqual([v.tokens.indexOf('xy'), v.tokens.indexOf('x')]);
  });

  it('adds the space prefix and turns every space into ▁', () => {
    expect(tok.encode('a')).toEqual([id('\u2581a')]);
    expect(tok.encode('a  b')).toEqual([id('\u2581a'), id('\u2581'), id('\u2581'), id('b')]);
    expect(sentencePieceTokenizer({ ...vocab, addSpacePrefix: false }).encode('a')).toEqual([id('a')]);
    expect(tok.encode('')).toEqual([]);
  });

  it('falls back to UTF-8 byte tokens for characters outside the vocabulary', () => {
    const byteId = (b: number): number => 3 + b;
    expect(tok.encode('a€')).toEqual([id('\u2581a'), byteId(0xe2), byteId(0x82), byteId(0xac)]);
    expect(tok.encode('😀')).toEqual([id('\u2581'), byteId(0xf0), byteId(0x9f), byteId(0x98), byteId(0x80)]);
    expect(tok.encode('\n')).toEqual([id('\u2581'), byteId(0x0a)]);
  });

  it('uses an ASCII character token, then <unk>, where a byte token is missing', () => {
    const v = syntheticVocab([
      ['\u2581', -1],
      ['\n', -2],
    ]);
    const withoutNewlineByte = { ...v, tokens: v.tokens.map((t) => (t === '<0x0A>' || t === '<0xE2>' ? `unused${t}` : t)) };
    const t = sentencePieceTokenizer(withoutNewlineByte);
    expect(t.encode('\n')).toEqual([v.tokens.indexOf('\u2581'), v.tokens.indexOf('\n')]);
    // '\n' is a vocabulary token itself, so only '€' needs bytes: 0xE2 has no token, so <unk>.
    expect(t.encode('€')).toEqual([v.tokens.indexOf('\u2581'), 0, 3 + 0x82, 3 + 0xac]);
  });

  it('decodes: ▁ to space, bytes reassembled, control tokens dropped, prefix space removed', () => {
    expect(tok.decode([1, id('\u2581a'), id('bc'), 3 + 0xe2, 3 + 0x82, 3 + 0xac, 2])).toBe('abc€');
    expect(tok.decode([id('\u2581a'), id('\u2581'), id('b'), 0])).toBe('a b');
    expect(tok.decode([])).toBe('');
    // A lone partial character decodes to U+FFFD rather than failing.
    expect(tok.decode([3 + 0xe2])).toBe('\ufffd');
    expect(sentencePieceTokenizer({ ...vocab, addSpacePrefix: false }).decode([id('\u2581a')])).toBe(' a');
  });

  it('round-trips text, including characters it only has bytes for', () => {
    for (const text of ['abc', ' abc', 'a  b c ', 'cab bac', '€ and 😀, 日本', '\ttab\nnewline', '\ufeffbom', '']) {
      expect(tok.decode(tok.encode(text))).toBe(text);
    }
  });

  it('matches the merge rule stated directly, on random text', () => {
    const rng = new Random(12345);
    const random = (): number => rng.uniform();
    const alphabet = ['a', 'b', 'c', ' ', 'é', '😀'];
    for (let trial = 0; trial < 300; trial++) {
      const text = Array.from({ length: Math.floor(random() * 30) }, () => alphabet[Math.floor(random() * alphabet.length)]).join('');
      const ids = tok.encode(text);
      expect(ids).toEqual(referenceEncode(vocab, text));
      expect(tok.decode(ids)).toBe(text);
    }
  });

  it('encodes long text quickly (priority queue, not rescans)', () => {
    const text = 'abc ab aaa bca '.repeat(8_000); // 120k characters: a quadratic rescan would take minutes
    const start = performance.now();
    const ids = tok.encode(text);
    expect(performance.now() - start).toBeLessThan(3000);
    expect(tok.decode(ids)).toBe(text);
  });

  it('shows single tokens readably', () => {
    expect(tok.tokenText(id('\u2581ab'))).toBe(' ab');
    expect(tok.tokenText(3 + 0x0a)).toBe('\\n');
    expect(tok.tokenText(3 + 0x41)).toBe('A');
    expect(tok.tokenText(3 + 0xe2)).toBe('<0xE2>');
    expect(tok.tokenText(1)).toBe('<s>');
  });

  it('infers token types from the special ids and <0xNN> spelling when the file gives none', () => {
    const { tokenTypes: _, ...untyped } = vocab;
    const t = sentencePieceTokenizer(untyped);
    expect(t.decode([1, id('\u2581a'), 3 + 0xe2, 3 + 0x82, 3 + 0xac, 2, 0])).toBe('a€');
  });

  it('rejects malformed vocabularies and ids outside them', () => {
    expect(() => sentencePieceTokenizer({ ...vocab, scores: [0] })).toThrow(UserError);
    expect(() => sentencePieceTokenizer({ ...vocab, bosId: 10_000 })).toThrow(UserError);
    expect(() => sentencePieceTokenizer({ tokens: [], scores: [] })).toThrow(UserError);
    expect(() => tok.decode([tok.vocabSize])).toThrow(UserError);
    expect(() => tok.tokenText(-1)).toThrow(UserError);
  });
});

describe('Heap', () => {
  it('pops in order', () => {
    const heap = new Heap<number>((a, b) => a < b);
    const values = Array.from({ length: 1000 }, (_, i) => (i * 7919) % 1009);
    values.forEach((v) => heap.push(v));
    const out: number[] = [];
    for (let v = heap.pop(); v !== undefined; v = heap.pop()) out.push(v);
    expect(out).toEqual([...values].sort((a, b) => a - b));
    expect(heap.size).toBe(0);
  });
});
