// @vitest-environment jsdom
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, screen, waitFor, within } from '@testing-library/react';

import { api, ApiError, type QuizState, type SendingDomainState } from './api';
import { SendingDomainCard } from './components/SendingDomainCard';
import { renderApp } from './test/render';
import { nextId, QuizPage } from './views/QuizPage';

afterEach(() => {
  cleanup();
  vi.restoreAllMocks();
});

const quiz: QuizState = {
  saved: true,
  definition: {
    title: 'Find your match',
    intro: 'Two questions.',
    questions: [
      { id: 'q1', text: 'What is your skin like?', answers: [{ id: 'a1', text: 'Dry', segment: 'a' }, { id: 'a2', text: 'Oily', segment: 'b' }] },
    ],
    segments: [
      { key: 'a', name: 'Dry skin', products: [{ id: 11, title: 'Rich cream', url: '/products/rich-cream' }] },
      { key: 'b', name: 'Oily skin', products: [] },
    ],
    default_segment: 'a',
  },
};

const stats = [
  { segment: 'a', name: 'Dry skin', submissions: 8, subscribed: 5, converted: 2, conversion: 0.25 },
  { segment: 'b', name: 'Oily skin', submissions: 2, subscribed: 1, converted: 0, conversion: 0 },
];

describe('nextId', () => {
  it('picks the first free number', () => {
    expect(nextId('q', [])).toBe('q1');
    expect(nextId('q', ['q1', 'goal', 'q3'])).toBe('q2');
  });
});

describe('QuizPage', () => {
  it('shows the questions, answer → segment mapping, products and stats by segment', async () => {
    vi.spyOn(api, 'getQuiz').mockResolvedValue(quiz);
    vi.spyOn(api, 'getQuizStats').mockResolvedValue(stats);
    renderApp(<QuizPage />);
    expect(((await screen.findByLabelText('Title')) as HTMLInputElement).value).toBe('Find your match');
    expect((screen.getByLabelText('Answer 1') as HTMLInputElement).value).toBe('Dry');
    expect((screen.getByLabelText('Segment of answer 2') as HTMLSelectElement).value).toBe('b');
    expect((screen.getByLabelText('Product URL') as HTMLInputElement).value).toBe('/products/rich-cream');
    expect(await screen.findByText('10 submission(s)')).toBeTruthy();
    const rows = within(screen.getByTestId('quiz-stats')).getAllByRole('listitem');
    expect(rows).toHaveLength(2);
    expect(rows[0].textContent).toContain('8 submissions · 5 subscribed · 2 ordered');
    expect(rows[0].textContent).toContain('25% conversion');
  });

  it('saves the edited definition and shows 422 errors next to their fields', async () => {
    vi.spyOn(api, 'getQuiz').mockResolvedValue(quiz);
    vi.spyOn(api, 'getQuizStats').mockResolvedValue([]);
    const save = vi
      .spyOn(api, 'saveQuiz')
      .mockRejectedValueOnce(new ApiError(422, 'Some fields need attention.', { 'questions[0].answers[1].text': 'required', 'segments[0].products[0].url': 'a storefront path starting with / or an https URL' }))
      .mockImplementation(async (d) => ({ saved: true, definition: d }));
    renderApp(<QuizPage />);
    const answer = (await screen.findByLabelText('Answer 2')) as HTMLInputElement;
    fireEvent.change(answer, { target: { value: '' } });
    fireEvent.change(screen.getByLabelText('Segment of answer 1'), { target: { value: 'b' } });
    fireEvent.change(screen.getByLabelText('Product URL'), { target: { value: 'javascript:x' } });
    fireEvent.click(screen.getByRole('button', { name: 'Save' }));
    expect(await screen.findByText('required')).toBeTruthy();
    expect(answer.getAttribute('aria-invalid')).toBe('true');
    expect(screen.getByLabelText('Product URL').getAttribute('aria-invalid')).toBe('true');
    expect(screen.getByText('Some fields need attention; see the messages next to them.')).toBeTruthy();
    const sent = save.mock.calls[0][0];
    expect(sent.questions[0].answers).toEqual([{ id: 'a1', text: 'Dry', segment: 'b' }, { id: 'a2', text: '', segment: 'b' }]);
    expect(sent.segments[0].products[0].url).toBe('javascript:x');

    // Fixing the field clears its error; the second save succeeds.
    fireEvent.change(answer, { target: { value: 'Oily' } });
    expect(answer.getAttribute('aria-invalid')).not.toBe('true');
    fireEvent.change(screen.getByLabelText('Product URL'), { target: { value: '/products/rich-cream' } });
    fireEvent.click(screen.getByRole('button', { name: 'Save' }));
    expect(await screen.findByText('Quiz saved. The storefront block shows this version.')).toBeTruthy();
    expect(save).toHaveBeenCalledTimes(2);
  });

  it('adds a question with two answers and fresh ids', async () => {
    vi.spyOn(api, 'getQuiz').mockResolvedValue(quiz);
    vi.spyOn(api, 'getQuizStats').mockResolvedValue([]);
    const save = vi.spyOn(api, 'saveQuiz').mockImplementation(async (d) => ({ saved: true, definition: d }));
    renderApp(<QuizPage />);
    fireEvent.click(await screen.findByRole('button', { name: 'Add question' }));
    expect(screen.getByText('Question 2')).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Save' }));
    await waitFor(() => expect(save).toHaveBeenCalled());
    expect(save.mock.calls[0][0].questions[1]).toMatchObject({ id: 'q2', answers: [{ id: 'a1' }, { id: 'a2' }] });
  });

  it('says when the quiz is only a starter and when there are no submissions (French)', async () => {
    vi.spyOn(api, 'getQuiz').mockResolvedValue({ ...quiz, saved: false });
    vi.spyOn(api, 'getQuizStats').mockResolvedValue([]);
    renderApp(<QuizPage />, 'fr');
    expect(await screen.findByText('Pas encore de quiz')).toBeTruthy();
    expect(await screen.findByText(/^Aucune participation pour l’instant/)).toBeTruthy();
    // A starter can be saved as is.
    expect(screen.getByRole('button', { name: 'Enregistrer' }).hasAttribute('disabled')).toBe(false);
  });

  it('shows the load error with a retry', async () => {
    const get = vi.spyOn(api, 'getQuiz').mockRejectedValueOnce(new ApiError(500, 'Relance ran into a problem.')).mockResolvedValue(quiz);
    vi.spyOn(api, 'getQuizStats').mockResolvedValue([]);
    renderApp(<QuizPage />);
    expect(await screen.findByText('Relance ran into a problem.')).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Try again' }));
    expect(await screen.findByLabelText('Title')).toBeTruthy();
    expect(get).toHaveBeenCalledTimes(2);
  });

  it('keeps the editor when only the stats fail', async () => {
    vi.spyOn(api, 'getQuiz').mockResolvedValue(quiz);
    vi.spyOn(api, 'getQuizStats').mockRejectedValue(new ApiError(0, "Can't reach Relance."));
    renderApp(<QuizPage />);
    expect(await screen.findByText("Can't reach Relance.")).toBeTruthy();
    expect(screen.getByLabelText('Title')).toBeTruthy();
  });
});

const none: SendingDomainState = { available: false, from_email: 'Shop <hello@relance.test>', domain: null };
const pending: SendingDomainState = {
  available: true,
  from_email: 'Shop <hello@relance.test>',
  domain: {
    name: 'mail.shop.com',
    status: 'pending',
    verified: false,
    region: 'eu-west-1',
    records: [
      { record: 'SPF', name: 'send', type: 'MX', ttl: 'Auto', status: 'pending', value: 'feedback-smtp.eu-west-1.amazonses.com', priority: 10 },
      { record: 'DKIM', name: 'resend._domainkey', type: 'TXT', ttl: 'Auto', status: 'pending', value: 'p=MIGf' },
    ],
    checked_at: null,
    verified_at: null,
    created_at: '2026-01-01T00:00:00Z',
  },
};

describe('SendingDomainCard', () => {
  it('shows the From address and the 409 explanation plainly', async () => {
    vi.spyOn(api, 'getSendingDomain').mockResolvedValue(none);
    const add = vi.spyOn(api, 'addSendingDomain').mockRejectedValue(new ApiError(409, 'sending domains need Resend'));
    renderApp(<SendingDomainCard />);
    expect((await screen.findByTestId('domain-from')).textContent).toBe('Emails go out from Shop <hello@relance.test>.');
    fireEvent.change(screen.getByLabelText('Domain'), { target: { value: 'mail.shop.com' } });
    fireEvent.click(screen.getByRole('button', { name: 'Add domain' }));
    const notice = await screen.findByTestId('domain-notice');
    expect(notice.textContent).toContain('sending domains need Resend');
    expect(notice.textContent).toContain('Sending domains are not available on this server');
    expect(add).toHaveBeenCalledWith('mail.shop.com');
  });

  it('puts a 422 next to the Domain field', async () => {
    vi.spyOn(api, 'getSendingDomain').mockResolvedValue({ ...none, available: true });
    vi.spyOn(api, 'addSendingDomain').mockRejectedValue(new ApiError(422, 'validation failed', { domain: 'must be a domain name such as mail.myshop.com' }));
    renderApp(<SendingDomainCard />);
    const field = await screen.findByLabelText('Domain');
    fireEvent.change(field, { target: { value: 'nope' } });
    fireEvent.click(screen.getByRole('button', { name: 'Add domain' }));
    expect(await screen.findByText('must be a domain name such as mail.myshop.com')).toBeTruthy();
    expect(field.getAttribute('aria-invalid')).toBe('true');
  });

  it('adds a domain, then lists its DNS records and verifies it', async () => {
    vi.spyOn(api, 'getSendingDomain').mockResolvedValue({ ...none, available: true });
    vi.spyOn(api, 'addSendingDomain').mockResolvedValue(pending);
    const verify = vi.spyOn(api, 'verifySendingDomain').mockResolvedValue({ ...pending, domain: { ...pending.domain!, status: 'verified', verified: true } });
    renderApp(<SendingDomainCard />);
    fireEvent.change(await screen.findByLabelText('Domain'), { target: { value: 'mail.shop.com' } });
    fireEvent.click(screen.getByRole('button', { name: 'Add domain' }));
    const table = await screen.findByTestId('dns-records');
    const rows = within(table).getAllByRole('row');
    expect(rows).toHaveLength(3);
    expect(within(rows[0]).getAllByRole('columnheader').map((h) => h.textContent)).toEqual(['Type', 'Name', 'Value', 'Priority']);
    expect(within(rows[1]).getAllByRole('cell').map((c) => c.textContent)).toEqual(['MX', 'send', 'feedback-smtp.eu-west-1.amazonses.com', '10']);
    expect(within(rows[2]).getAllByRole('cell')[3].textContent).toBe('—');
    expect(screen.getByTestId('domain-status').textContent).toMatch(/Pending$/);
    fireEvent.click(screen.getByRole('button', { name: 'Verify' }));
    await waitFor(() => expect(screen.getByTestId('domain-status').textContent).toMatch(/Verified$/));
    expect(verify).toHaveBeenCalledTimes(1);
  });

  it('shows a loading error with a retry (French)', async () => {
    vi.spyOn(api, 'getSendingDomain').mockRejectedValueOnce(new ApiError(500, 'Relance a rencontré un problème.')).mockResolvedValue(pending);
    renderApp(<SendingDomainCard />, 'fr');
    fireEvent.click(await screen.findByRole('button', { name: 'Réessayer' }));
    expect(await screen.findByText('Domaine d’envoi')).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Vérifier' })).toBeTruthy();
  });
});
