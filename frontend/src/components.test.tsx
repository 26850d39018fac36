// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { act, cleanup, fireEvent, screen, waitFor, within } from '@testing-library/react';

import { api, ApiError, type Flow, type Settings } from './api';
import { BarChart } from './components/BarChart';
import { Switch } from './components/Switch';
import { renderApp } from './test/render';
import { SequenceEditorPage } from './views/SequenceEditorPage';
import { SequencesPage } from './views/SequencesPage';
import { SettingsForm } from './views/SettingsPage';
import { OutboxPage } from './views/OutboxPage';

afterEach(() => {
  cleanup();
  vi.restoreAllMocks();
});

describe('BarChart', () => {
  it('draws one bar per day, scaled to the largest', () => {
    const { container } = renderApp(
      <BarChart title="Revenue" data={[{ label: 'a', value: 10 }, { label: 'b', value: 0 }, { label: 'c', value: 5 }]} format={String} />,
    );
    const rects = container.querySelectorAll('rect');
    expect(rects).toHaveLength(3);
    expect(Number(rects[0].getAttribute('height'))).toBeGreaterThan(Number(rects[2].getAttribute('height')));
    expect(rects[1].getAttribute('height')).toBe('0');
    expect(screen.getByRole('img').getAttribute('aria-label')).toBe('Revenue: 15 over 3 days');
  });
  it('says so when there is no data', () => {
    renderApp(<BarChart title="Revenue" data={[]} format={String} />, 'fr');
    expect(screen.getByTestId('chart-empty').textContent).toBe('Aucune donnée sur cette période.');
  });
});

describe('Switch', () => {
  it('is a labelled switch that flips on click (Space/Enter on a button)', () => {
    const onChange = vi.fn();
    renderApp(<Switch checked={false} label="Turn X on or off" onChange={onChange} />);
    const sw = screen.getByRole('switch', { name: 'Turn X on or off' });
    expect(sw.getAttribute('aria-checked')).toBe('false');
    fireEvent.click(sw);
    expect(onChange).toHaveBeenCalledWith(true);
  });
  it('keeps its focus while busy and ignores clicks', () => {
    const onChange = vi.fn();
    renderApp(<Switch checked label="S" disabled onChange={onChange} />);
    const sw = screen.getByRole('switch', { name: 'S' });
    expect(sw.hasAttribute('disabled')).toBe(false);
    expect(sw.getAttribute('aria-disabled')).toBe('true');
    fireEvent.click(sw);
    expect(onChange).not.toHaveBeenCalled();
  });
});

const flows = [
  { key: 'checkout_abandonment', name: 'Checkout abandonment', enabled: false, version: 1, waiting: 4, sent_30d: 12, skipped_30d: 3 },
  { key: 'welcome', name: 'Welcome', enabled: true, version: 2, waiting: 0, sent_30d: 0, skipped_30d: 0 },
];

describe('SequencesPage', () => {
  it('lists the sequences with their numbers and switches one on', async () => {
    vi.spyOn(api, 'listFlows').mockResolvedValue(flows);
    const setEnabled = vi.spyOn(api, 'setFlowEnabled').mockResolvedValue(undefined);
    renderApp(<SequencesPage />);
    const sw = await screen.findByRole('switch', { name: 'Turn Checkout abandonment on or off' });
    expect(screen.getByText('4 waiting · 12 sent · 3 skipped (30 days)')).toBeTruthy();
    fireEvent.click(sw);
    await waitFor(() => expect(sw.getAttribute('aria-checked')).toBe('true'));
    expect(setEnabled).toHaveBeenCalledWith('checkout_abandonment', true);
  });

  it('shows the error and a retry when loading fails', async () => {
    const list = vi.spyOn(api, 'listFlows').mockRejectedValueOnce(new ApiError(500, 'Relance ran into a problem.')).mockResolvedValue([]);
    renderApp(<SequencesPage />);
    expect(await screen.findByText('Relance ran into a problem.')).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Try again' }));
    expect(await screen.findByText('No sequences yet')).toBeTruthy();
    expect(list).toHaveBeenCalledTimes(2);
  });

  it('keeps the switch off and says why when the server refuses', async () => {
    vi.spyOn(api, 'listFlows').mockResolvedValue(flows);
    vi.spyOn(api, 'setFlowEnabled').mockRejectedValue(new ApiError(422, 'Set a postal address first.'));
    renderApp(<SequencesPage />);
    const sw = await screen.findByRole('switch', { name: 'Turn Checkout abandonment on or off' });
    fireEvent.click(sw);
    expect(await screen.findByText('Set a postal address first.')).toBeTruthy();
    expect(sw.getAttribute('aria-checked')).toBe('false');
  });
});

const settings: Settings = {
  sender_name: 'Shop',
  owner_first_name: 'Ann',
  reply_to: 'ann@shop.example',
  postal_address: '1 rue X',
  timezone: 'Europe/Paris',
  quiet_hours: null,
  frequency_cap_hours: 24,
  reminders_without_consent: true,
  default_locale: 'en',
  replenishment_days: 30,
  disengaged_days: 90,
  dormant_days: 180,
};

describe('SettingsForm', () => {
  beforeEach(() => {
    vi.spyOn(api, 'listProductLives').mockResolvedValue({ items: [], next_cursor: null });
  });
  it('shows 422 messages next to their fields', async () => {
    vi.spyOn(api, 'saveSettings').mockRejectedValue(new ApiError(422, 'invalid settings', { reply_to: 'Enter a valid email address.' }));
    renderApp(<SettingsForm initial={settings} />);
    const reply = screen.getByLabelText('Reply-to address');
    fireEvent.change(reply, { target: { value: 'nope' } });
    fireEvent.click(screen.getByRole('button', { name: 'Save' }));
    expect(await screen.findByText('Enter a valid email address.')).toBeTruthy();
    expect(reply.getAttribute('aria-invalid')).toBe('true');
    expect(api.saveSettings).toHaveBeenCalledWith(expect.objectContaining({ reply_to: 'nope' }));
  });
});

const flow: Flow = {
  key: 'checkout_abandonment',
  name: 'Checkout abandonment',
  enabled: true,
  version: 1,
  goal: 'purchase',
  has_draft: false,
  exits: ['emptied'],
  available_exits: ['leave', 'emptied'],
  reentry: { once: false, cooldown_days: 1 },
  steps: [
    { key: 'checkout_1', delay: { hours: 1 }, class: 'transactional', offer: false, subject: 'You left something', preheader: 'P', body: 'Hi' },
    { key: 'checkout_2', delay: { days: 1, at: '10:00' }, class: 'promotional', offer: true, subject: 'Still there?', preheader: '', body: 'B' },
  ],
};

describe('SequenceEditorPage', () => {
  beforeEach(() => {
    vi.spyOn(api, 'getFlow').mockResolvedValue(structuredClone(flow));
    vi.spyOn(api, 'listFlowVersions').mockResolvedValue([{ version: 1, published_at: '2026-11-01T10:00:00Z' }]);
    vi.spyOn(api, 'getDiscount').mockResolvedValue({
      flow: 'checkout_abandonment',
      step: 'checkout_2',
      custom: false,
      currency: 'EUR',
      table: { tiers: [{ from: '0.00', to: null, kind: 'percentage', percent: 10, amount: '', minimum: '' }], expiry_hours: 48, new_customers_only: false, carts_above: null, prefix: '' },
    });
  });

  it('shows the steps as a timeline and renders the preview of the edited subject (debounced)', async () => {
    const preview = vi.spyOn(api, 'preview').mockImplementation(async (req) => ({ subject: `R:${req.subject}`, preheader: '', html: `<p>${req.subject}</p>`, text: '' }));
    renderApp(<SequenceEditorPage flowKey="checkout_abandonment" />);
    const timeline = await screen.findByRole('list', { name: 'Steps' });
    expect(within(timeline).getAllByRole('button')).toHaveLength(2);
    expect(within(timeline).getByText('After 1 h')).toBeTruthy();
    expect(within(timeline).getByText('After 1 days at 10:00')).toBeTruthy();
    await waitFor(() => expect(screen.getByTestId('preview-subject').textContent).toBe('R:You left something'));

    const subject = screen.getByLabelText('Subject');
    fireEvent.change(subject, { target: { value: 'A' } });
    fireEvent.change(subject, { target: { value: 'AB' } });
    fireEvent.change(subject, { target: { value: 'Hi {{ shop.name }}' } });
    await waitFor(() => expect(screen.getByTestId('preview-subject').textContent).toBe('R:Hi {{ shop.name }}'));
    // The three keystrokes made one request, not three.
    expect(preview.mock.calls.map((c) => c[0].subject)).toEqual(['You left something', 'Hi {{ shop.name }}']);
    expect(screen.getByTestId('preview-frame').getAttribute('sandbox')).toBe('');
  });

  it('inserts a Liquid variable at the cursor', async () => {
    vi.spyOn(api, 'preview').mockResolvedValue({ subject: '', preheader: '', html: '', text: '' });
    renderApp(<SequenceEditorPage flowKey="checkout_abandonment" />);
    const subject = (await screen.findByLabelText('Subject')) as HTMLInputElement;
    subject.focus();
    subject.setSelectionRange(4, 4);
    fireEvent.keyUp(subject);
    fireEvent.change(screen.getByLabelText('Insert variable'), { target: { value: 'customer.first_name' } });
    expect(subject.value).toBe('You {{ customer.first_name }}left something');
  });

  it('shows 422 errors of a save on the step’s fields', async () => {
    vi.spyOn(api, 'preview').mockResolvedValue({ subject: '', preheader: '', html: '', text: '' });
    const save = vi.spyOn(api, 'saveDraft').mockRejectedValue(new ApiError(422, 'invalid', { 'steps.1.body': 'Liquid syntax error: unclosed tag' }));
    renderApp(<SequenceEditorPage flowKey="checkout_abandonment" />);
    fireEvent.change(await screen.findByLabelText('Subject'), { target: { value: 'New' } });
    fireEvent.click(screen.getByRole('button', { name: 'Save draft' }));
    // The editor jumps to the step with the error and shows it under the body.
    expect(await screen.findByText('Liquid syntax error: unclosed tag')).toBeTruthy();
    expect((screen.getByLabelText('Subject') as HTMLInputElement).value).toBe('Still there?');
    expect(screen.getByText(/needs attention/)).toBeTruthy();
    expect(save.mock.calls[0][0].steps[0].subject).toBe('New');
  });

  it('publishes with the choice about waiting shoppers', async () => {
    vi.spyOn(api, 'preview').mockResolvedValue({ subject: '', preheader: '', html: '', text: '' });
    const publish = vi.spyOn(api, 'publishFlow').mockResolvedValue(undefined);
    renderApp(<SequenceEditorPage flowKey="checkout_abandonment" />);
    fireEvent.click(await screen.findByRole('button', { name: 'Publish' }));
    fireEvent.click(await screen.findByLabelText('Keep them on their current version'));
    const dialog = screen.getByRole('dialog');
    await act(async () => {
      fireEvent.click(within(dialog).getByRole('button', { name: 'Publish' }));
    });
    await waitFor(() => expect(publish).toHaveBeenCalledWith('checkout_abandonment', false));
    expect(await screen.findByText('Published. New shoppers get the new version.')).toBeTruthy();
  });
});

describe('OutboxPage', () => {
  it('explains a 404: the outbox is for the dev store', async () => {
    vi.spyOn(api, 'listOutbox').mockRejectedValue(new ApiError(404, 'Not found.'));
    renderApp(<OutboxPage />);
    expect(await screen.findByText('The outbox is for the dev store only')).toBeTruthy();
  });
  it('lists the stored emails', async () => {
    vi.spyOn(api, 'listOutbox').mockResolvedValue({ items: [{ id: '1', at: '2026-11-01T10:00:00Z', to: 'a@b.c', subject: 'Hello', html: '', text: '' }], next_cursor: null });
    renderApp(<OutboxPage />);
    const link = await screen.findByRole('link', { name: 'Hello' });
    expect(link.getAttribute('href')).toBe('/outbox/1');
  });
});
