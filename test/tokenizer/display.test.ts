import { describe, expect, it } from 'vitest';
import { bytePieceValue, displayBytes, displayText, sentencePieceDisplay } from '../../src/tokenizer/display.js';

describe('token display', () => {
  it('keeps text on one line', () => {
    expect(displayText('a\nb\tc\rd\u0000e\u007f')).toBe('a\\nb\\tc\\rd<0x00>e<0x7F>');
    expect(displayText(' café 😀')).toBe(' café 😀');
  });

  it('shows whole UTF-8 characters as text and stray bytes as <0xNN>', () => {
    expect(displayBytes([0x20, 0xe2, 0x82, 0xac])).toBe(' €');
    expect(displayBytes([0x20, 0xf0, 0x9f])).toBe(' <0xF0><0x9F>');
    expect(displayBytes([0x98, 0x80, 0x41])).toBe('<0x98><0x80>A');
    // Overlong encodings and surrogates are not characters.
    expect(displayBytes([0xc0, 0xaf])).toBe('<0xC0><0xAF>');
    expect(displayBytes([0xed, 0xa0, 0x80])).toBe('<0xED><0xA0><0x80>');
    expect(displayBytes([0xef, 0xbb, 0xbf])).toBe('\ufeff');
  });

  it('reads SentencePiece pieces', () => {
    expect(bytePieceValue('<0x0A>')).toBe(10);
    expect(bytePieceValue('<0x0A')).toBeUndefined();
    expect(sentencePieceDisplay('\u2581the')).toBe(' the');
    expect(sentencePieceDisplay('<0x0A>')).toBe('\\n');
    expect(sentencePieceDisplay('<0xE2>')).toBe('<0xE2>');
  });
});
