import { describe, expect, it, vi } from 'vitest';

import { ApiError, createApi, errorFrom, type QuizDefinition } from './api';

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

function client(res: () => Response) {
  const fetch = vi.fn(async (_url: string, _init?: RequestInit) => res());
  const api = createApi({ fetch, getToken: async () => 'tok' });
  const call = (i = 0) => {
    const [url, init] = fetch.mock.calls[i] as [string, RequestInit | undefined];
    return { url, method: init?.method ?? 'GET', body: init?.body ? JSON.parse(String(init.body)) : undefined, init };
  };
  return { api, fetch, call };
}

const def: QuizDefinition = {
  title: 'Find your match',
  intro: '',
  questions: [{ id: 'q1', text: 'Skin?', answers: [{ id: 'a1', text: 'Dry', segment: 'a' }, { id: 'a2', text: 'Any', segment: '' }] }],
  segments: [{ key: 'a', name: 'Dry skin', products: [{ id: 7, title: 'Cream', url: '/products/cream' }] }],
  default_segment: 'a',
};

describe('quiz', () => {
  it('GET /api/quiz fills the lists a starter or stored quiz may lack', async () => {
    const { api, call } = client(() =>
      json(200, { saved: false, definition: { title: 'T', intro: 'I', questions: [{ id: 'q', text: 'Q', answers: [{ id: 'x', text: 'X' }] }], segments: [{ key: 'a', name: 'A', products: null }], default_segment: 'a' } }),
    );
    const q = await api.getQuiz();
    expect(call()).toMatchObject({ url: '/api/quiz', method: 'GET' });
    expect(q.saved).toBe(false);
    expect(q.definition.questions[0].answers[0]).toEqual({ id: 'x', text: 'X', segment: '' });
    expect(q.definition.segments[0].products).toEqual([]);
  });

  it('GET /api/quiz tolerates a definition with null lists', async () => {
    const { api } = client(() => json(200, { saved: true, definition: { title: 'T', questions: null, segments: null } }));
    expect(await api.getQuiz()).toEqual({ saved: true, definition: { title: 'T', intro: '', questions: [], segments: [], default_segment: '' } });
  });

  it('PUT /api/quiz sends the definition without empty answer segments', async () => {
    const { api, call } = client(() => json(200, { saved: true, definition: def }));
    const res = await api.saveQuiz(def);
    const c = call();
    expect(c).toMatchObject({ url: '/api/quiz', method: 'PUT' });
    expect(c.body.questions[0].answers).toEqual([{ id: 'a1', text: 'Dry', segment: 'a' }, { id: 'a2', text: 'Any' }]);
    expect(c.body.segments).toEqual(def.segments);
    expect(new Headers(c.init?.headers).get('Authorization')).toBe('Bearer tok');
    expect(res.saved).toBe(true);
  });

  it('a PUT 422 {errors} carries the field paths', async () => {
    const { api } = client(() => json(422, { errors: { 'questions[0].text': 'required', 'segments[0].products[0].url': 'a storefront path starting with / or an https URL' } }));
    const err = (await api.saveQuiz(def).catch((e) => e)) as ApiError;
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(422);
    expect(err.message).toBe('Some fields need attention.');
    expect(err.fields).toEqual({ 'questions[0].text': 'required', 'segments[0].products[0].url': 'a storefront path starting with / or an https URL' });
  });

  it('a malformed-quiz 422 (key "") becomes the message', async () => {
    const err = await errorFrom(json(422, { errors: { '': 'malformed quiz JSON: unexpected EOF' } }));
    expect(err.message).toBe('malformed quiz JSON: unexpected EOF');
    expect(err.fields).toEqual({});
  });

  it('GET /api/quiz/stats returns the segments, [] for null', async () => {
    const row = { segment: 'a', name: 'A', submissions: 4, subscribed: 3, converted: 1, conversion: 0.25 };
    let body: unknown = { segments: [row] };
    const { api, call } = client(() => json(200, body));
    expect(await api.getQuizStats()).toEqual([row]);
    expect(call().url).toBe('/api/quiz/stats');
    body = { segments: null };
    expect(await api.getQuizStats()).toEqual([]);
  });
});

describe('sending domain', () => {
  const state = {
    available: true,
    from_email: 'Shop <hello@relance.app>',
    domain: {
      name: 'mail.shop.com',
      status: 'pending',
      verified: false,
      region: 'eu-west-1',
      records: [{ record: 'SPF', name: 'send', type: 'MX', ttl: 'Auto', status: 'pending', value: 'feedback-smtp.eu-west-1.amazonses.com', priority: 10 }],
      checked_at: null,
      verified_at: null,
      created_at: '2026-01-01T00:00:00Z',
    },
  };

  it('GET /api/sending-domain; a null domain and null records are fine', async () => {
    let body: unknown = { available: false, from_email: 'x@y', domain: null };
    const { api, call } = client(() => json(200, body));
    expect(await api.getSendingDomain()).toEqual({ available: false, from_email: 'x@y', domain: null });
    expect(call()).toMatchObject({ url: '/api/sending-domain', method: 'GET' });
    body = { ...state, domain: { ...state.domain, records: null } };
    expect((await api.getSendingDomain()).domain?.records).toEqual([]);
  });

  it('POST /api/sending-domain sends the trimmed domain', async () => {
    const { api, call } = client(() => json(200, state));
    const s = await api.addSendingDomain('  mail.shop.com ');
    expect(call()).toMatchObject({ url: '/api/sending-domain', method: 'POST', body: { domain: 'mail.shop.com' } });
    expect(s.domain?.records[0].priority).toBe(10);
  });

  it('a 409 keeps the server’s explanation', async () => {
    const { api } = client(() => json(409, { error: 'sending domains need Resend' }));
    const err = (await api.addSendingDomain('mail.shop.com').catch((e) => e)) as ApiError;
    expect(err.status).toBe(409);
    expect(err.message).toBe('sending domains need Resend');
  });

  it('a 422 names the domain field', async () => {
    const { api } = client(() => json(422, { error: 'validation failed', fields: { domain: 'must be a domain name such as mail.myshop.com' } }));
    const err = (await api.addSendingDomain('nope').catch((e) => e)) as ApiError;
    expect(err.fields.domain).toBe('must be a domain name such as mail.myshop.com');
  });

  it('POST /api/sending-domain/verify has no body', async () => {
    const { api, call } = client(() => json(200, { ...state, domain: { ...state.domain, status: 'verified', verified: true } }));
    const s = await api.verifySendingDomain();
    const c = call();
    expect(c).toMatchObject({ url: '/api/sending-domain/verify', method: 'POST' });
    expect(c.body).toBeUndefined();
    expect(s.domain?.verified).toBe(true);
  });
});
