// Pure helpers of the discount-tier editor and of the per-product
// replenishment overrides, kept apart so they are unit-tested.
import type { DiscountKind, DiscountTable, DiscountTier } from './api';
import type { I18n } from './i18n';

export const DISCOUNT_KINDS: readonly DiscountKind[] = ['percentage', 'fixed_amount', 'free_shipping'];

/** The server's bound on the rows of one table (discount.MaxTiers). */
export const MAX_TIERS = 20;

/**
 * addTier appends a tier that starts where the last one ends (empty when the
 * last one has no upper bound: the merchant sets both ends).
 */
export function addTier(t: DiscountTable): DiscountTable {
  const last = t.tiers[t.tiers.length - 1];
  const from = last ? (last.to ?? '') : '0';
  const tier: DiscountTier = { from, to: null, kind: 'percentage', percent: 10, amount: '', minimum: '' };
  return { ...t, tiers: [...t.tiers, tier] };
}

export function removeTier(t: DiscountTable, i: number): DiscountTable {
  return { ...t, tiers: t.tiers.filter((_, j) => j !== i) };
}

export function updateTier(t: DiscountTable, i: number, patch: Partial<DiscountTier>): DiscountTable {
  return { ...t, tiers: t.tiers.map((x, j) => (j === i ? { ...x, ...patch } : x)) };
}

/**
 * withKind switches a tier's offer, dropping what only the other kinds have
 * (the server refuses a percent on a fixed amount, and so on) and giving
 * the new kind a sensible start.
 */
export function withKind(tier: DiscountTier, kind: DiscountKind): DiscountTier {
  switch (kind) {
    case 'percentage':
      return { ...tier, kind, amount: '', percent: tier.percent > 0 ? tier.percent : 10 };
    case 'fixed_amount':
      return { ...tier, kind, percent: 0 };
    default:
      return { ...tier, kind, percent: 0, amount: '' };
  }
}

/** decimal reads an amount typed with a dot or a comma ("49,90"); NaN when it is not one. */
export function decimal(v: string): number {
  const s = v.trim().replace(',', '.');
  return /^\d+(\.\d+)?$/.test(s) ? Number(s) : NaN;
}

/** forWire normalizes what the merchant typed: decimal commas become dots, an empty upper bound is none. */
export function forWire(t: DiscountTable): DiscountTable {
  const amount = (v: string) => v.trim().replace(',', '.');
  const cartsAbove = t.carts_above === null ? '' : amount(t.carts_above);
  return {
    ...t,
    prefix: t.prefix.trim().toUpperCase(),
    carts_above: cartsAbove === '' ? null : cartsAbove,
    tiers: t.tiers.map((x) => {
      const to = x.to === null ? '' : amount(x.to);
      return { ...x, from: amount(x.from), to: to === '' ? null : to, amount: amount(x.amount), minimum: amount(x.minimum) };
    }),
  };
}

/** tierSummary says in words what a tier gives, with amounts in the shop's currency. */
export function tierSummary(tier: DiscountTier, i: I18n, currency: string): string {
  const money = (v: string) => {
    const n = decimal(v);
    return Number.isNaN(n) ? v : i.money(n, currency);
  };
  const from = decimal(tier.from);
  const to = tier.to === null || tier.to.trim() === '' ? null : tier.to;
  let range: string;
  if (to !== null) range = i.t('discount.range.between', { from: money(tier.from || '0'), to: money(to) });
  else if (!from) range = i.t('discount.range.any');
  else range = i.t('discount.range.from', { from: money(tier.from) });
  const offer =
    tier.kind === 'percentage'
      ? i.t('discount.summary.percentage', { range, percent: tier.percent })
      : tier.kind === 'fixed_amount'
        ? i.t('discount.summary.fixed_amount', { range, amount: money(tier.amount || '0') })
        : i.t('discount.summary.free_shipping', { range });
  const min = decimal(tier.minimum);
  return min > 0 ? offer + i.t('discount.summary.minimum', { minimum: money(tier.minimum) }) : offer;
}

/**
 * parseProductId reads a Shopify product id from what a merchant pastes: the
 * number itself, a GraphQL id (gid://shopify/Product/123) or an admin URL
 * (…/products/123). null when there is none.
 */
export function parseProductId(v: string): number | null {
  const s = v.trim();
  const m = /^(\d+)$/.exec(s) ?? /gid:\/\/shopify\/Product\/(\d+)/i.exec(s) ?? /\/products\/(\d+)(?:[/?#]|$)/.exec(s);
  if (!m) return null;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) && n > 0 ? n : null;
}
