// The shared vocabulary: a parsed corruption is written back under the name a pipeline uses, and
// noise samples multiply the rows of a run.
import { describe, expect, it } from 'vitest';
import { corruptionName, DEFAULT_NOISE, DIRECTIONS, isDirection, samplesPerPair } from '../../src/core/vocabulary.js';
import { parseCorruption } from '../../src/tasks/pairs.js';
import { getTask } from '../../src/tasks/registry.js';

describe('vocabulary', () => {
  it('names a parsed corruption as pipelines write it: parsing the name gives the corruption back', () => {
    const ioi = getTask('ioi');
    for (const name of ['s2-io', 'abc', 'gn', 'gn:IO,S2']) expect(corruptionName(parseCorruption(ioi, name))).toBe(name);
    expect(corruptionName(parseCorruption(ioi, 'str'))).toBe('s2-io');
    expect(corruptionName({ kind: 'gn', roles: [] })).toBe('gn');
  });

  it('counts one row per pair for STR and one per noise sample for GN', () => {
    expect(samplesPerPair({ kind: 'str', variant: 'abc' })).toBe(1);
    expect(samplesPerPair({ kind: 'gn', noise: { ...DEFAULT_NOISE, samples: 4 } })).toBe(4);
  });

  it('recognises directions', () => {
    for (const d of DIRECTIONS) expect(isDirection(d)).toBe(true);
    expect(isDirection('sideways')).toBe(false);
    expect(isDirection(null)).toBe(false);
  });
});
