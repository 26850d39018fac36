import { describe, expect, it } from 'vitest';

import type { DiscountTable, DiscountTier } from './api';
import { addTier, decimal, forWire, parseProductId, removeTier, tierSummary, updateTier, withKind } from './discountEdit';
import { makeI18n } from './i18n';

const tier = (p: Partial<DiscountTier>): DiscountTier => ({ from: '0', to: null, kind: 'percentage', percent: 10, amount: '', minimum: '', ...p });
const table = (...tiers: DiscountTier[]): DiscountTable => ({ tiers, expiry_hours: 48, new_customers_only: false, carts_above: null, prefix: '' });

describe('tier rows', () => {
  it('a new tier starts where the last one ends, or from zero in an empty table', () => {
    expect(addTier(table()).tiers).toEqual([tier({ from: '0' })]);
    expect(addTier(table(tier({ to: '50' }))).tiers[1]).toEqual(tier({ from: '50' }));
    expect(addTier(table(tier({ from: '50', to: null }))).tiers[1].from).toBe('');
  });
  it('removes and updates one row, leaving the others', () => {
    const t = table(tier({ to: '50' }), tier({ from: '50', kind: 'free_shipping', percent: 0 }));
    expect(removeTier(t, 0).tiers).toEqual([t.tiers[1]]);
    expect(updateTier(t, 1, { from: '60' }).tiers.map((x) => x.from)).toEqual(['0', '60']);
    expect(t.tiers[1].from).toBe('50');
  });
  it('switching the offer drops what only the other kinds have', () => {
    const fixed = withKind(tier({ percent: 15 }), 'fixed_amount');
    expect(fixed).toMatchObject({ kind: 'fixed_amount', percent: 0 });
    expect(withKind({ ...fixed, amount: '5' }, 'free_shipping')).toMatchObject({ kind: 'free_shipping', percent: 0, amount: '' });
    expect(withKind({ ...fixed, amount: '5' }, 'percentage')).toMatchObject({ kind: 'percentage', percent: 10, amount: '' });
    expect(withKind(tier({ percent: 25 }), 'percentage').percent).toBe(25);
  });
});

describe('forWire', () => {
  it('turns decimal commas into dots, empty bounds into none, and upper-cases the prefix', () => {
    const out = forWire({ ...table(tier({ from: ' 49,90 ', to: '', minimum: '10,5' })), carts_above: ' ', prefix: ' merci ' });
    expect(out.tiers[0]).toMatchObject({ from: '49.90', to: null, minimum: '10.5' });
    expect(out.carts_above).toBeNull();
    expect(out.prefix).toBe('MERCI');
    expect(forWire({ ...table(), carts_above: '20,00' }).carts_above).toBe('20.00');
  });
  it('reads amounts typed either way, and nothing else', () => {
    expect(decimal('49,9')).toBe(49.9);
    expect(decimal('12')).toBe(12);
    expect(decimal('abc')).toBeNaN();
    expect(decimal('-3')).toBeNaN();
  });
});

describe('tierSummary', () => {
  const en = makeI18n('en');
  const fr = makeI18n('fr');
  it('says what each tier gives, in the shop currency', () => {
    expect(tierSummary(tier({}), en, 'EUR')).toBe('Any cart: 10% off');
    expect(tierSummary(tier({ from: '50', to: '150', kind: 'fixed_amount', percent: 0, amount: '10' }), en, 'USD')).toBe(
      'Carts from $50.00 to under $150.00: $10.00 off',
    );
    expect(tierSummary(tier({ from: '150', kind: 'free_shipping', percent: 0, minimum: '100' }), en, 'USD')).toBe(
      'Carts of $150.00 or more: free shipping (orders of $100.00 or more)',
    );
  });
  it('in French too', () => {
    expect(tierSummary(tier({ from: '50', to: '150', percent: 15 }), fr, 'EUR').replace(/\s/g, ' ')).toBe('Paniers de 50,00 € à moins de 150,00 € : 15 % de remise');
  });
});

describe('parseProductId', () => {
  it('reads an id, a GraphQL id or an admin URL', () => {
    expect(parseProductId(' 123456789 ')).toBe(123456789);
    expect(parseProductId('gid://shopify/Product/42')).toBe(42);
    expect(parseProductId('https://admin.shopify.com/store/x/products/987?tab=1')).toBe(987);
  });
  it('refuses anything else', () => {
    expect(parseProductId('')).toBeNull();
    expect(parseProductId('0')).toBeNull();
    expect(parseProductId('mug')).toBeNull();
    expect(parseProductId('/products/mug-123')).toBeNull();
    expect(parseProductId('99999999999999999999')).toBeNull();
  });
});
