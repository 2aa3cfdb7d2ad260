// Token labels of per-position views, split from prompt text: used only when the split has exactly
// one piece per position.
import { describe, expect, it } from 'vitest';
import { promptTokens, tokenLabel } from '../../viz/src/tokens.js';

describe('prompt tokens from text', () => {
  it('splits like GPT-2 pre-tokenization: words with their leading space, punctuation apart', () => {
    const ioi = 'When Mary and John went to the store, John gave a drink to';
    expect(promptTokens(ioi, 14)).toEqual(['When', ' Mary', ' and', ' John', ' went', ' to', ' the', ' store', ',', ' John', ' gave', ' a', ' drink', ' to']);
    expect(promptTokens("it's 1999", 3)).toEqual(['it', "'s", ' 1999']);
  });

  it('reads number-token prompts of synthetic models one token per number', () => {
    expect(promptTokens('58 18 32 16', 4)).toEqual(['58', ' 18', ' 32', ' 16']);
  });

  it('gives nothing when the pieces do not match the positions (BPE split a word)', () => {
    expect(promptTokens('When Mary and John went to the store', 9)).toBeNull();
    expect(promptTokens('', 3)).toBeNull();
  });

  it('shows a leading space as ␣ and cuts long tokens', () => {
    expect(tokenLabel(' John')).toBe('␣John');
    expect(tokenLabel(' extraordinarily', 8)).toBe('␣extrao…');
  });
});
