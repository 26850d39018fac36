import { describe, expect, it, vi } from 'vitest';

import { ApiError, createApi, errorFrom, withQuery } from './api';

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

describe('422 validation errors', () => {
  it('carry the field messages', async () => {
    const err = await errorFrom(json(422, { error: 'invalid settings', fields: { reply_to: 'not an email', 'quiet_hours.start': 'HH:MM', n: 3 } }));
    expect(err.status).toBe(422);
    expect(err.message).toBe('invalid settings');
    expect(err.fields).toEqual({ reply_to: 'not an email', 'quiet_hours.start': 'HH:MM' });
  });
  it('have a message even without one', async () => {
    const err = await errorFrom(new Response('', { status: 422 }));
    expect(err.message).toBe('Some fields need attention.');
    expect(err.fields).toEqual({});
  });
  it('reach the caller of saveDraft', async () => {
    const { api } = client(() => json(422, { error: 'invalid flow', fields: { 'steps.1.body': 'unclosed {{' } }));
    const err = await api.saveDraft({ key: 'k', name: '', enabled: true, version: 1, goal: '', steps: [], exits: [], available_exits: [], reentry: { once: false, cooldown_days: 0 }, has_draft: false }).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).fields['steps.1.body']).toBe('unclosed {{');
  });
});

describe('requests', () => {
  it('PUT settings sends the JSON body with the token', async () => {
    const { api, call } = client(() => json(200, { sender_name: 'X' }));
    await api.saveSettings({ sender_name: 'X' } as never);
    const c = call();
    expect(c.url).toBe('/api/settings');
    expect(c.method).toBe('PUT');
    expect(c.body).toEqual({ sender_name: 'X' });
    const h = new Headers(c.init?.headers);
    expect(h.get('Authorization')).toBe('Bearer tok');
    expect(h.get('Content-Type')).toBe('application/json');
  });

  it('lists flows from {items} and tolerates a null list', async () => {
    const { api } = client(() => json(200, { items: null, next_cursor: null }));
    expect(await api.listFlows()).toEqual([]);
  });

  it('switches a flow on, escaping its key', async () => {
    const { api, call } = client(() => new Response(null, { status: 204 }));
    await api.setFlowEnabled('a/b', true);
    expect(call()).toMatchObject({ url: '/api/flows/a%2Fb/enabled', method: 'POST', body: { enabled: true } });
  });

  it('publishes with the move-waiting choice', async () => {
    const { api, call } = client(() => json(200, { version: 2, moved: 3 }));
    await api.publishFlow('checkout_abandonment', false);
    expect(call()).toMatchObject({ url: '/api/flows/checkout_abandonment/publish', method: 'POST', body: { move_waiting: false } });
  });

  it('getFlow always has a steps array', async () => {
    const { api } = client(() => json(200, { key: 'k', steps: null }));
    expect((await api.getFlow('k')).steps).toEqual([]);
  });

  it('preview posts the step and passes the abort signal', async () => {
    const { api, call } = client(() => json(200, { subject: 'S', preheader: 'P', html: '<p>x</p>', text: 'x' }));
    const ctl = new AbortController();
    const p = await api.preview({ flow: 'f', step: 's1', subject: 'S', preheader: 'P', body: 'B', locale: 'fr' }, ctl.signal);
    expect(p.html).toBe('<p>x</p>');
    expect(call().body).toEqual({ flow: 'f', step: 's1', subject: 'S', preheader: 'P', body: 'B', locale: 'fr' });
    expect(call().init?.signal).toBe(ctl.signal);
  });

  it('test email accepts a 202 without a body', async () => {
    const { api, call } = client(() => new Response(null, { status: 202 }));
    await expect(api.sendTestEmail({ flow: 'f', step: 's', subject: '', preheader: '', body: '', locale: 'en', to: 'a@b.c' })).resolves.toBeUndefined();
    expect(call().body.to).toBe('a@b.c');
  });

  it('activity search builds the query and keeps the cursor', async () => {
    const { api, call } = client(() => json(200, { items: [{ id: '1' }], next_cursor: 'c2' }));
    const page = await api.listActivity({ q: ' ann@x.com ', limit: 25, cursor: 'c1' });
    expect(call().url).toBe('/api/activity?q=ann%40x.com&limit=25&cursor=c1');
    expect(page).toEqual({ items: [{ id: '1' }], next_cursor: 'c2' });
  });

  it('outbox, timeline and metrics hit their paths', async () => {
    const { api, call } = client(() => json(200, { items: [], contact: { email: 'a' }, series: null }));
    await api.listOutbox();
    await api.getOutboxMessage('9');
    const tl = await api.getContactTimeline('c 1');
    const m = await api.getMetrics(90);
    expect([0, 1, 2, 3].map((i) => call(i).url)).toEqual(['/api/outbox', '/api/outbox/9', '/api/contacts/c%201/timeline', '/api/metrics?days=90']);
    expect(tl.items).toEqual([]);
    expect(m.series).toEqual([]);
  });

  it('a 404 of the outbox outside the dev store is an ApiError 404', async () => {
    const { api } = client(() => json(404, { error: 'not found' }));
    await expect(api.listOutbox()).rejects.toMatchObject({ status: 404 });
  });
});

describe('withQuery', () => {
  it('skips empty values', () => {
    expect(withQuery('/x', { a: '', b: null, c: undefined, d: 0 })).toBe('/x?d=0');
    expect(withQuery('/x', {})).toBe('/x');
  });
});
