import { describe, expect, it } from 'vitest';

import type { Flow } from './api';
import { delayKind, stepError, stepsWithErrors, switchDelay, toggleWeekday, updateStep, withoutStepErrors } from './flowEdit';
import { insertAt, tag } from './liquid';

describe('insertAt', () => {
  it('replaces the selection and puts the caret after the text', () => {
    expect(insertAt('Hello world', tag('customer.first_name'), 6, 11)).toEqual({
      value: 'Hello {{ customer.first_name }}',
      caret: 31,
    });
  });
  it('appends without a selection, and clamps bad positions', () => {
    expect(insertAt('Hi', '!', null, null)).toEqual({ value: 'Hi!', caret: 3 });
    expect(insertAt('Hi', '!', 99, 1)).toEqual({ value: 'Hi!', caret: 3 });
    expect(insertAt('Hi', '!', 0, -1)).toEqual({ value: '!Hi', caret: 1 });
  });
});

describe('delays', () => {
  it('recognises the three forms', () => {
    expect(delayKind({ hours: 1 })).toBe('hours');
    expect(delayKind({ hours: 0 })).toBe('hours');
    expect(delayKind({ days: 2, at: '10:00' })).toBe('days');
    expect(delayKind({ usable_life: true, at: '10:00' })).toBe('usable_life');
  });
  it('gives a days delay a time of day, which the API requires', () => {
    expect(switchDelay({ hours: 3 }, 'days')).toEqual({ days: 3, at: '10:00' });
    expect(switchDelay({ days: 2, at: '09:30', weekdays: ['mon'] }, 'hours')).toEqual({ hours: 2 });
  });
  it('toggles weekdays; all seven means every day (no list)', () => {
    const d = toggleWeekday({ days: 1, at: '10:00' }, 'sun', false);
    expect(d.weekdays).toEqual(['mon', 'tue', 'wed', 'thu', 'fri', 'sat']);
    expect(toggleWeekday(d, 'sun', true)).toEqual({ days: 1, at: '10:00' });
  });
});

describe('422 field errors', () => {
  const fields = { 'steps.1.body': 'unclosed tag {{', 'steps.1.delay.at': 'bad time', 'steps.0.subject': 'required', reply_to: 'x' };
  it('finds the message of a field, or of what is under it', () => {
    expect(stepError(fields, 1, 'body')).toBe('unclosed tag {{');
    expect(stepError(fields, 1, 'delay')).toBe('bad time');
    expect(stepError(fields, 0, 'body')).toBeUndefined();
  });
  it('lists the steps with errors', () => {
    expect([...stepsWithErrors(fields)].sort()).toEqual([0, 1]);
  });
  it('drops a field’s errors once edited', () => {
    expect(withoutStepErrors(fields, 1, 'delay')).toEqual({ 'steps.1.body': 'unclosed tag {{', 'steps.0.subject': 'required', reply_to: 'x' });
  });
  it('updates one step only', () => {
    const f = { key: 'k', steps: [{ subject: 'a' }, { subject: 'b' }] } as unknown as Flow;
    expect(updateStep(f, 1, { subject: 'c' }).steps.map((s) => s.subject)).toEqual(['a', 'c']);
  });
});
