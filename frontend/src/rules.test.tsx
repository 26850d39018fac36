// @vitest-environment jsdom
// The discount tiers of an offer step, the exit and re-entry rules of a
// sequence, the per-product replenishment overrides, sequence names in French.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, screen, waitFor, within } from '@testing-library/react';

import { api, ApiError, type Flow, type StepDiscount } from './api';
import { DiscountTiersCard } from './components/DiscountTiersCard';
import { mergeProduct, ProductLifeCard } from './components/ProductLifeCard';
import { renderApp } from './test/render';
import { SequenceEditorPage } from './views/SequenceEditorPage';
import { SequencesPage } from './views/SequencesPage';

afterEach(() => {
  cleanup();
  vi.restoreAllMocks();
});

const defaultOffer: StepDiscount = {
  flow: 'cart_abandonment',
  step: 'reminder-3',
  custom: false,
  currency: 'EUR',
  table: { tiers: [{ from: '0.00', to: null, kind: 'percentage', percent: 10, amount: '', minimum: '' }], expiry_hours: 48, new_customers_only: false, carts_above: null, prefix: '' },
};

describe('DiscountTiersCard', () => {
  it('edits the tiers (add, kind, amounts in the shop currency) and saves them', async () => {
    vi.spyOn(api, 'getDiscount').mockResolvedValue(structuredClone(defaultOffer));
    const save = vi.spyOn(api, 'saveDiscount').mockImplementation(async (flow, step, table) => ({ flow, step, custom: true, currency: 'EUR', table }));
    renderApp(<DiscountTiersCard flowKey="cart_abandonment" stepKey="reminder-3" />);
    expect(await screen.findByText('Default offer: 10% off any cart, valid 48 hours. Edit the tiers to change it.')).toBeTruthy();
    const list = screen.getByTestId('discount-tiers');
    expect(within(list).getByText('Any cart: 10% off')).toBeTruthy();

    // The first tier ends at 50,00 (a decimal comma); the new one starts there, with a fixed amount.
    fireEvent.change(within(list).getAllByLabelText('Up to (excluded)')[0], { target: { value: '50,00' } });
    fireEvent.click(screen.getByRole('button', { name: 'Add tier' }));
    const rows = within(screen.getByTestId('discount-tiers')).getAllByRole('listitem');
    expect(rows).toHaveLength(2);
    expect((within(rows[1]).getByLabelText('Carts from') as HTMLInputElement).value).toBe('50,00');
    fireEvent.change(within(rows[1]).getByLabelText('Offer'), { target: { value: 'fixed_amount' } });
    expect(within(rows[1]).queryByLabelText('Percent off')).toBeNull();
    fireEvent.change(within(rows[1]).getByLabelText('Amount off'), { target: { value: '7.5' } });
    expect(within(rows[1]).getByText('Carts of €50.00 or more: €7.50 off')).toBeTruthy();
    expect(within(rows[1]).getAllByText('EUR').length).toBeGreaterThan(0);

    fireEvent.click(screen.getByRole('button', { name: 'Save tiers' }));
    expect(await screen.findByText('Discount tiers saved.')).toBeTruthy();
    expect(save).toHaveBeenCalledWith('cart_abandonment', 'reminder-3', {
      ...defaultOffer.table,
      tiers: [
        { from: '0.00', to: '50.00', kind: 'percentage', percent: 10, amount: '', minimum: '' },
        { from: '50.00', to: null, kind: 'fixed_amount', percent: 0, amount: '7.5', minimum: '' },
      ],
    });
    expect(screen.getByRole('button', { name: 'Use the default offer' })).toBeTruthy();
  });

  it('shows 422 errors next to their fields and clears one when it is edited', async () => {
    vi.spyOn(api, 'getDiscount').mockResolvedValue(structuredClone(defaultOffer));
    vi.spyOn(api, 'saveDiscount').mockRejectedValue(new ApiError(422, 'validation failed', { 'tiers.0.percent': 'must be between 1 and 100', prefix: 'must be 2 to 12 capital letters or digits' }));
    renderApp(<DiscountTiersCard flowKey="cart_abandonment" stepKey="reminder-3" />);
    const percent = await screen.findByLabelText('Percent off');
    fireEvent.change(percent, { target: { value: '0' } });
    fireEvent.click(screen.getByRole('button', { name: 'Save tiers' }));
    expect(await screen.findByText('must be between 1 and 100')).toBeTruthy();
    expect(percent.getAttribute('aria-invalid')).toBe('true');
    expect(screen.getByLabelText('Code prefix').getAttribute('aria-invalid')).toBe('true');
    fireEvent.change(percent, { target: { value: '20' } });
    expect(screen.queryByText('must be between 1 and 100')).toBeNull();
    expect(screen.getByText('must be 2 to 12 capital letters or digits')).toBeTruthy();
  });

  it('goes back to the default offer, and removes a row', async () => {
    const custom = { ...structuredClone(defaultOffer), custom: true };
    custom.table.tiers.push({ from: '100', to: null, kind: 'free_shipping', percent: 0, amount: '', minimum: '' });
    custom.table.tiers[0].to = '100';
    vi.spyOn(api, 'getDiscount').mockResolvedValue(custom);
    const reset = vi.spyOn(api, 'resetDiscount').mockResolvedValue(structuredClone(defaultOffer));
    renderApp(<DiscountTiersCard flowKey="cart_abandonment" stepKey="reminder-3" />);
    fireEvent.click(await screen.findByRole('button', { name: 'Remove tier 2' }));
    expect(within(screen.getByTestId('discount-tiers')).getAllByRole('listitem')).toHaveLength(1);
    fireEvent.click(screen.getByRole('button', { name: 'Use the default offer' }));
    expect(await screen.findByText('This email makes the default offer again.')).toBeTruthy();
    expect(reset).toHaveBeenCalledWith('cart_abandonment', 'reminder-3');
    await waitFor(() => expect(screen.queryByRole('button', { name: 'Use the default offer' })).toBeNull());
  });

  it('says so when the tiers cannot be loaded', async () => {
    vi.spyOn(api, 'getDiscount').mockRejectedValue(new ApiError(404, 'step not found'));
    renderApp(<DiscountTiersCard flowKey="cart_abandonment" stepKey="nope" />);
    expect(await screen.findByText('step not found')).toBeTruthy();
  });
});

const cartFlow: Flow = {
  key: 'cart_abandonment',
  name: 'Cart abandonment',
  enabled: true,
  version: 1,
  goal: 'purchase',
  has_draft: false,
  exits: ['emptied'],
  available_exits: ['leave', 'emptied'],
  reentry: { once: false, cooldown_days: 1 },
  steps: [
    { key: 'reminder-1', delay: { hours: 1 }, class: 'transactional', offer: false, subject: 'Your cart', preheader: '', body: 'B' },
    { key: 'reminder-3', delay: { hours: 48 }, class: 'promotional', offer: true, subject: 'A little something', preheader: '', body: 'B' },
  ],
};

describe('sequence editor: rules and offer', () => {
  beforeEach(() => {
    vi.spyOn(api, 'getFlow').mockResolvedValue(structuredClone(cartFlow));
    vi.spyOn(api, 'listFlowVersions').mockResolvedValue([]);
    vi.spyOn(api, 'preview').mockResolvedValue({ subject: '', preheader: '', html: '', text: '' });
    vi.spyOn(api, 'getSettings').mockRejectedValue(new ApiError(500, 'x'));
  });

  it('saves the re-entry and exit rules with the draft, in plain words', async () => {
    const save = vi.spyOn(api, 'saveDraft').mockResolvedValue(undefined);
    renderApp(<SequenceEditorPage flowKey="cart_abandonment" />);
    const cooldown = (await screen.findByLabelText('Days before they can enter again')) as HTMLInputElement;
    expect(cooldown.value).toBe('1');
    expect(screen.getByText('As soon as they are out of it, the next abandoned cart starts it again.')).toBeTruthy();
    // Emptied is always on; leaving is the merchant's choice.
    const emptied = screen.getByLabelText('The cart is emptied or the checkout deleted') as HTMLInputElement;
    expect(emptied.checked).toBe(true);
    expect(emptied.disabled).toBe(true);
    fireEvent.click(screen.getByLabelText('The shopper says they are not interested'));
    fireEvent.change(cooldown, { target: { value: '14' } });
    fireEvent.click(screen.getByRole('button', { name: 'Save draft' }));
    await waitFor(() => expect(save).toHaveBeenCalled());
    expect(save.mock.calls[0][0]).toMatchObject({ exits: ['leave', 'emptied'], reentry: { once: false, cooldown_days: 14 } });

    fireEvent.click(screen.getByLabelText('No, only once ever'));
    expect(screen.queryByLabelText('Days before they can enter again')).toBeNull();
    fireEvent.click(screen.getByRole('button', { name: 'Save draft' }));
    await waitFor(() => expect(save).toHaveBeenCalledTimes(2));
    expect(save.mock.calls[1][0].reentry).toEqual({ once: true, cooldown_days: 0 });
  }, 20000);

  it('shows rule errors next to the rules, not in the banner list', async () => {
    vi.spyOn(api, 'saveDraft').mockRejectedValue(new ApiError(422, 'validation failed', { 'reentry.cooldown_days': 'must be between 0 and 3650', 'exits.0': '"leave" does not apply to this flow' }));
    renderApp(<SequenceEditorPage flowKey="cart_abandonment" />);
    const cooldown = await screen.findByLabelText('Days before they can enter again');
    fireEvent.change(cooldown, { target: { value: '9999' } });
    fireEvent.click(screen.getByRole('button', { name: 'Save draft' }));
    expect(await screen.findByText('must be between 0 and 3650')).toBeTruthy();
    expect(cooldown.getAttribute('aria-invalid')).toBe('true');
    expect(screen.queryByText(/reentry.cooldown_days:/)).toBeNull();
  });

  it('shows the discount tiers for a step with an offer only', async () => {
    const get = vi.spyOn(api, 'getDiscount').mockResolvedValue(structuredClone(defaultOffer));
    renderApp(<SequenceEditorPage flowKey="cart_abandonment" />);
    await screen.findByLabelText('Subject');
    expect(screen.queryByText('Discount by cart value')).toBeNull();
    fireEvent.click(within(screen.getByRole('list', { name: 'Steps' })).getAllByRole('button')[1]);
    expect(await screen.findByText('Discount by cart value')).toBeTruthy();
    expect(get).toHaveBeenCalledWith('cart_abandonment', 'reminder-3');
  });

  it('titles the editor with the sequence name in French', async () => {
    renderApp(<SequenceEditorPage flowKey="cart_abandonment" />, 'fr');
    expect(await screen.findByRole('heading', { name: 'Panier abandonné' })).toBeTruthy();
    expect(screen.getByText('Un client peut-il refaire cette séquence ?')).toBeTruthy();
  });
});

describe('SequencesPage in French', () => {
  it('shows the sequence names in French', async () => {
    vi.spyOn(api, 'listFlows').mockResolvedValue([
      { key: 'browse_abandonment', name: 'Browse abandonment', enabled: false, version: 1, waiting: 0, sent_30d: 0, skipped_30d: 0 },
      { key: 'welcome', name: 'Bonjour à vous', enabled: true, version: 3, waiting: 0, sent_30d: 0, skipped_30d: 0 },
    ]);
    renderApp(<SequencesPage />, 'fr');
    expect(await screen.findByRole('link', { name: 'Navigation abandonnée' })).toBeTruthy();
    expect(screen.getByRole('link', { name: 'Bonjour à vous' })).toBeTruthy();
  });
});

describe('ProductLifeCard', () => {
  it('lists the overrides, sets one from a pasted admin URL and removes one', async () => {
    vi.spyOn(api, 'listProductLives').mockResolvedValue({ items: [{ product_id: 501, title: 'Serum 30 ml', days: 25 }], next_cursor: null });
    const set = vi.spyOn(api, 'setProductLife').mockResolvedValue({ product_id: 42, title: '', days: 60 });
    const del = vi.spyOn(api, 'deleteProductLife').mockResolvedValue(undefined);
    renderApp(<ProductLifeCard defaultDays={30} />);
    const list = await screen.findByTestId('product-lives');
    expect(within(list).getByText('Serum 30 ml')).toBeTruthy();
    expect(within(list).getByText('#501 · 25 days')).toBeTruthy();
    expect(screen.getByText(/sooner or later than 30 days/)).toBeTruthy();

    fireEvent.change(screen.getByLabelText('Product'), { target: { value: 'https://admin.shopify.com/store/s/products/42' } });
    fireEvent.change(screen.getByLabelText('Runs out after (days)'), { target: { value: '60' } });
    fireEvent.click(screen.getByRole('button', { name: 'Set' }));
    expect(await screen.findByText('Saved: Product 42 runs out after 60 days.')).toBeTruthy();
    expect(set).toHaveBeenCalledWith(42, 60);
    expect(within(screen.getByTestId('product-lives')).getAllByRole('listitem')).toHaveLength(2);

    fireEvent.click(screen.getByRole('button', { name: 'Remove Serum 30 ml' }));
    expect(await screen.findByText('Serum 30 ml follows the default again.')).toBeTruthy();
    expect(del).toHaveBeenCalledWith(501);
    expect(within(screen.getByTestId('product-lives')).getAllByRole('listitem')).toHaveLength(1);
  });

  it('refuses what is not a product and shows the server’s field errors', async () => {
    vi.spyOn(api, 'listProductLives').mockResolvedValue({ items: [], next_cursor: null });
    const set = vi.spyOn(api, 'setProductLife').mockRejectedValue(new ApiError(422, 'validation failed', { days: 'must be between 1 and 3650' }));
    renderApp(<ProductLifeCard defaultDays={30} />);
    expect(await screen.findByText('No product overrides: every product uses the default.')).toBeTruthy();
    fireEvent.change(screen.getByLabelText('Product'), { target: { value: 'mug' } });
    fireEvent.change(screen.getByLabelText('Runs out after (days)'), { target: { value: '0' } });
    fireEvent.click(screen.getByRole('button', { name: 'Set' }));
    expect(await screen.findByText('Enter a product ID (a number) or a product address.')).toBeTruthy();
    expect(set).not.toHaveBeenCalled();
    fireEvent.change(screen.getByLabelText('Product'), { target: { value: '42' } });
    fireEvent.click(screen.getByRole('button', { name: 'Set' }));
    expect(await screen.findByText('must be between 1 and 3650')).toBeTruthy();
    expect(screen.getByLabelText('Runs out after (days)').getAttribute('aria-invalid')).toBe('true');
  });

  it('loads the next page', async () => {
    const list = vi
      .spyOn(api, 'listProductLives')
      .mockResolvedValueOnce({ items: [{ product_id: 1, title: 'A', days: 10 }], next_cursor: '1' })
      .mockResolvedValueOnce({ items: [{ product_id: 2, title: 'B', days: 20 }], next_cursor: null });
    renderApp(<ProductLifeCard defaultDays={30} />);
    fireEvent.click(await screen.findByRole('button', { name: 'Load more' }));
    expect(await screen.findByText('B')).toBeTruthy();
    expect(list).toHaveBeenLastCalledWith({ cursor: '1' });
    expect(screen.queryByRole('button', { name: 'Load more' })).toBeNull();
  });

  it('keeps the list in product id order', () => {
    const items = [{ product_id: 5, title: '', days: 1 }, { product_id: 9, title: '', days: 1 }];
    expect(mergeProduct(items, { product_id: 7, title: 'x', days: 3 }).map((p) => p.product_id)).toEqual([5, 7, 9]);
    expect(mergeProduct(items, { product_id: 9, title: 'x', days: 3 })).toEqual([items[0], { product_id: 9, title: 'x', days: 3 }]);
  });
});
