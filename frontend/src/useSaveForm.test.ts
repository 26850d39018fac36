import { describe, expect, it } from 'vitest';

import { errorUnder, withoutErrorsUnder } from './useSaveForm';

describe('field errors under a path', () => {
  const fields = { 'tiers.1.from': 'overlaps', 'tiers.10.to': 'bad', tiers: 'too many', 'questions[0].text': 'required', prefix: 'bad' };
  it('clears a field and what is under it, not its look-alikes', () => {
    expect(withoutErrorsUnder(fields, 'tiers.1')).toEqual({ 'tiers.10.to': 'bad', tiers: 'too many', 'questions[0].text': 'required', prefix: 'bad' });
    expect(Object.keys(withoutErrorsUnder(fields, 'tiers'))).toEqual(['questions[0].text', 'prefix']);
    expect(Object.keys(withoutErrorsUnder(fields, 'questions[0]'))).not.toContain('questions[0].text');
    expect(withoutErrorsUnder(fields, '')).toEqual({});
  });
  it('finds the error of a field, else the first one under it', () => {
    expect(errorUnder(fields, 'prefix')).toBe('bad');
    expect(errorUnder(fields, 'tiers.1')).toBe('overlaps');
    expect(errorUnder(fields, 'questions')).toBe('required');
    expect(errorUnder(fields, 'tier')).toBeUndefined();
  });
});
