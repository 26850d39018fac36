import { describe, expect, it } from 'vitest';

import type { Flow } from './api';
import {
  DEFAULT_COOLDOWN_DAYS,
  delayKind,
  reentryMode,
  stepError,
  stepsWithErrors,
  switchDelay,
  toggleExit,
  toggleWeekday,
  updateStep,
  withoutStepErrors,
  withReentryMode,
} from './flowEdit';
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

describe('exit and re-entry rules', () => {
  const flow: Flow = {
    key: 'cart_abandonment', name: 'Cart abandonment', enabled: true, version: 1, goal: 'purchase', has_draft: false, steps: [],
    exits: ['emptied'], available_exits: ['leave', 'emptied'], reentry: { once: false, cooldown_days: 1 },
  };
  it('reads the re-entry mode', () => {
    expect(reentryMode({ once: true, cooldown_days: 0 })).toBe('once');
    expect(reentryMode({ once: false, cooldown_days: 7 })).toBe('cooldown');
    expect(reentryMode({ once: false, cooldown_days: 0 })).toBe('any');
  });
  it('switches the mode, keeping a cool-down already set and never sending once with one', () => {
    expect(withReentryMode({ once: false, cooldown_days: 7 }, 'once')).toEqual({ once: true, cooldown_days: 0 });
    expect(withReentryMode({ once: true, cooldown_days: 0 }, 'cooldown')).toEqual({ once: false, cooldown_days: DEFAULT_COOLDOWN_DAYS });
    expect(withReentryMode({ once: false, cooldown_days: 7 }, 'cooldown')).toEqual({ once: false, cooldown_days: 7 });
    expect(withReentryMode({ once: false, cooldown_days: 7 }, 'any')).toEqual({ once: false, cooldown_days: 0 });
  });
  it('toggles an exit in the order the flow offers them', () => {
    expect(toggleExit(flow, 'leave', true).exits).toEqual(['leave', 'emptied']);
    expect(toggleExit(toggleExit(flow, 'leave', true), 'leave', false).exits).toEqual(['emptied']);
    expect(toggleExit(flow, 'emptied', true).exits).toEqual(['emptied']);
  });
});
