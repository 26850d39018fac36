import { afterEach, describe, expect, it, vi } from 'vitest';

import { ApiError, createApi, sessionToken } from './api';

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' },
  });
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('getShop', () => {
  it('sends the session token as a bearer token and maps the shop', async () => {
    const fetch = vi.fn(async () =>
      json(200, {
        domain: 'relance-dev.myshopify.com',
        name: 'Relance Dev Store',
        scopes: ['read_orders', 'write_discounts'],
        installed_at: '2026-11-01T10:00:00Z',
      }),
    );
    const api = createApi({ fetch, getToken: async () => 'tok-123' });

    const shop = await api.getShop();

    expect(fetch).toHaveBeenCalledTimes(1);
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/api/shop');
    expect(new Headers(init.headers).get('Authorization')).toBe('Bearer tok-123');
    expect(shop).toEqual({
      domain: 'relance-dev.myshopify.com',
      name: 'Relance Dev Store',
      scopes: ['read_orders', 'write_discounts'],
      installedAt: '2026-11-01T10:00:00Z',
    });
  });

  it('asks for a fresh token on every call', async () => {
    let n = 0;
    const fetch = vi.fn(async () => json(200, { domain: 'a.myshopify.com', name: 'A', scopes: null, installed_at: '' }));
    const api = createApi({ fetch, getToken: async () => `tok-${++n}` });
    await api.getShop();
    const shop = await api.getShop();
    const auth = fetch.mock.calls.map((c) => new Headers((c as unknown as [string, RequestInit])[1].headers).get('Authorization'));
    expect(auth).toEqual(['Bearer tok-1', 'Bearer tok-2']);
    expect(shop.scopes).toEqual([]);
  });
});

describe('errors', () => {
  const cases: { desc: string; res: () => Response; wantStatus: number; wantMessage: string }[] = [
    {
      desc: '401 asks to reload',
      res: () => json(401, { error: 'invalid session token' }),
      wantStatus: 401,
      wantMessage: 'Your session has expired. Reload the page to continue.',
    },
    {
      desc: '4xx shows the server reason',
      res: () => json(404, { error: 'shop not installed' }),
      wantStatus: 404,
      wantMessage: 'shop not installed',
    },
    {
      desc: '4xx without a JSON body gets a generic message',
      res: () => new Response('nope', { status: 403 }),
      wantStatus: 403,
      wantMessage: "You don't have access to this.",
    },
    {
      desc: '429 asks to wait',
      res: () => json(429, { error: 'rate limited' }),
      wantStatus: 429,
      wantMessage: 'Too many requests. Wait a moment and try again.',
    },
    {
      desc: '5xx never shows the body',
      res: () => json(500, { error: 'pq: relation "shops" does not exist' }),
      wantStatus: 500,
      wantMessage: 'Relance ran into a problem. Try again in a moment.',
    },
  ];
  for (const tc of cases) {
    it(tc.desc, async () => {
      const api = createApi({ fetch: async () => tc.res(), getToken: async () => 't' });
      const err = await api.getShop().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApiError);
      expect((err as ApiError).status).toBe(tc.wantStatus);
      expect((err as ApiError).message).toBe(tc.wantMessage);
    });
  }

  it('maps a network failure to status 0', async () => {
    const api = createApi({
      fetch: async () => {
        throw new TypeError('Failed to fetch');
      },
      getToken: async () => 't',
    });
    const err = await api.getShop().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(0);
    expect((err as ApiError).message).toMatch(/Can't reach Relance/);
  });

  it('rejects a 200 that is not JSON', async () => {
    const api = createApi({ fetch: async () => new Response('<html>', { status: 200 }), getToken: async () => 't' });
    await expect(api.getShop()).rejects.toThrow('Relance sent an unreadable answer.');
  });
});

describe('sessionToken', () => {
  it('uses App Bridge inside the Shopify admin', async () => {
    vi.stubGlobal('shopify', { idToken: async () => 'from-app-bridge' });
    const fetch = vi.fn();
    await expect(sessionToken(fetch)).resolves.toBe('from-app-bridge');
    expect(fetch).not.toHaveBeenCalled();
  });

  it('asks the dev backend for the shop in the URL outside Shopify', async () => {
    vi.stubGlobal('location', { search: '?shop=relance-dev.myshopify.com' });
    const fetch = vi.fn(async (_url: string) => json(200, { token: 'dev-token' }));
    await expect(sessionToken(fetch)).resolves.toBe('dev-token');
    expect(fetch.mock.calls[0]?.[0]).toBe('/dev/session-token?shop=relance-dev.myshopify.com');
  });

  it('fails clearly with no App Bridge and no shop', async () => {
    vi.stubGlobal('location', { search: '' });
    const err = await sessionToken(vi.fn()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).message).toBe('Open Relance from your Shopify admin.');
  });

  it('reports a dev backend without the route', async () => {
    vi.stubGlobal('location', { search: '?shop=relance-dev.myshopify.com' });
    const err = await sessionToken(async () => new Response('not found', { status: 404 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(404);
  });
});
