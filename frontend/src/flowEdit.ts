// Pure helpers of the sequence editor, kept apart so they are unit-tested.
import type { Delay, Flow, FlowExit, Reentry, Step, Weekday } from './api';

export type DelayKind = 'hours' | 'days' | 'usable_life';

export function delayKind(d: Delay): DelayKind {
  if (d.hours !== undefined && d.hours !== null) return 'hours';
  return d.usable_life ? 'usable_life' : 'days';
}

/** DEFAULT_AT is the time of day a days-delay gets when the merchant switches to days. */
export const DEFAULT_AT = '10:00';

/** switchDelay converts d to kind, keeping the amount. A days delay needs a time of day. */
export function switchDelay(d: Delay, kind: 'hours' | 'days'): Delay {
  const amount = d.hours ?? d.days ?? 0;
  if (kind === 'hours') return { hours: amount };
  return { days: amount, at: d.at || DEFAULT_AT, ...(d.weekdays?.length ? { weekdays: d.weekdays } : {}) };
}

/** toggleWeekday adds or removes a weekday; all seven (or none) means every day, sent as no list. */
export function toggleWeekday(d: Delay, wd: Weekday, on: boolean): Delay {
  const cur: Weekday[] = d.weekdays && d.weekdays.length > 0 ? d.weekdays : [...WEEKDAYS];
  const set = new Set(cur);
  if (on) set.add(wd);
  else set.delete(wd);
  const next = WEEKDAYS.filter((x) => set.has(x));
  const { weekdays: _drop, ...rest } = d;
  void _drop;
  return next.length === WEEKDAYS.length || next.length === 0 ? rest : { ...rest, weekdays: next };
}

/** fieldError finds the 422 message of a step's field ("steps.1.body"), or of anything under it. */
export function stepError(fields: Record<string, string>, index: number, field: string): string | undefined {
  const exact = fields[`steps.${index}.${field}`];
  if (exact) return exact;
  const prefix = `steps.${index}.${field}.`;
  const nested = Object.entries(fields).filter(([k]) => k.startsWith(prefix));
  return nested.length > 0 ? nested.map(([, m]) => m).join(' ') : undefined;
}

/** stepsWithErrors lists the indexes of steps that have at least one field error. */
export function stepsWithErrors(fields: Record<string, string>): Set<number> {
  const out = new Set<number>();
  for (const k of Object.keys(fields)) {
    const m = /^steps\.(\d+)(\.|$)/.exec(k);
    if (m) out.add(Number(m[1]));
  }
  return out;
}

/** updateStep returns flow with step i changed by patch. */
export function updateStep(flow: Flow, i: number, patch: Partial<Step>): Flow {
  return { ...flow, steps: flow.steps.map((s, j) => (j === i ? { ...s, ...patch } : s)) };
}

/** withoutStepErrors drops the errors of one field of step i once the merchant edits it. */
export function withoutStepErrors(fields: Record<string, string>, i: number, field: string): Record<string, string> {
  const out: Record<string, string> = {};
  const key = `steps.${i}.${field}`;
  for (const [k, v] of Object.entries(fields)) {
    if (k !== key && !k.startsWith(key + '.')) out[k] = v;
  }
  return out;
}

/** Monday first, as European merchants read a week. */
export const WEEKDAYS: readonly Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

/** How a flow lets shoppers in again: any time, once ever, or after a cool-down. */
export type ReentryMode = 'any' | 'once' | 'cooldown';

export function reentryMode(r: Reentry): ReentryMode {
  if (r.once) return 'once';
  return r.cooldown_days > 0 ? 'cooldown' : 'any';
}

/** DEFAULT_COOLDOWN_DAYS is the cool-down a merchant starts from when choosing one. */
export const DEFAULT_COOLDOWN_DAYS = 30;

/** withReentryMode switches the rule, keeping a cool-down already set. */
export function withReentryMode(r: Reentry, mode: ReentryMode): Reentry {
  switch (mode) {
    case 'once':
      return { once: true, cooldown_days: 0 };
    case 'cooldown':
      return { once: false, cooldown_days: r.cooldown_days > 0 ? r.cooldown_days : DEFAULT_COOLDOWN_DAYS };
    default:
      return { once: false, cooldown_days: 0 };
  }
}

/** toggleExit turns an exit on or off, keeping the order the flow offers them in. */
export function toggleExit(f: Flow, exit: FlowExit, on: boolean): Flow {
  const set = new Set(f.exits);
  if (on) set.add(exit);
  else set.delete(exit);
  const order = [...f.available_exits, ...f.exits.filter((x) => !f.available_exits.includes(x))];
  return { ...f, exits: order.filter((x) => set.has(x)) };
}

/**
 * ALWAYS_ON_EXITS cannot be turned off where they apply: the engine always
 * ends a cart or checkout sequence when the cart is emptied.
 */
export const ALWAYS_ON_EXITS: readonly FlowExit[] = ['emptied'];
