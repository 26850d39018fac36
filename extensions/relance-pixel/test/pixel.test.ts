import {afterEach, beforeEach, describe, expect, it, vi} from 'vitest';
import {build} from 'esbuild';
import {init, recorded} from './events';

// The fake `register`: index.ts hands its callback to it, the test plays the
// part of Shopify's pixel manager (analytics + customerPrivacy event buses).
let registered: ((api: any) => void) | null = null;
vi.mock('@shopify/web-pixels-extension', () => ({
  register: (fn: (api: any) => void) => {
    registered = fn;
  },
}));

const DENIED = {analyticsProcessingAllowed: false, marketingAllowed: false};
const ALLOWED = {analyticsProcessingAllowed: true, marketingAllowed: true};

type Sent = {url: string; init: RequestInit; body: any};

function start(privacy: typeof ALLOWED, settings: Record<string, unknown> = {accountID: 'acme.myshopify.com', appUrl: 'https://relance.example.com/'}, href?: string) {
  const subs = new Map<string, (e: any) => void>();
  const consent: ((e: any) => void)[] = [];
  const sent: Sent[] = [];
  vi.stubGlobal('fetch', (url: string, init: RequestInit) => {
    sent.push({url, init, body: JSON.parse(String(init.body))});
    return Promise.resolve(new Response(null, {status: 202}));
  });
  expect(registered).not.toBeNull();
  registered!({
    analytics: {subscribe: (name: string, cb: (e: any) => void) => subs.set(name, cb)},
    customerPrivacy: {subscribe: (_name: string, cb: (e: any) => void) => consent.push(cb)},
    init: init(privacy, href),
    settings,
    browser: {},
  });
  return {
    sent,
    subs,
    emit: (e: any) => subs.get(e.name)?.(e),
    consent: (p: typeof ALLOWED) => consent.forEach((cb) => cb({customerPrivacy: {...p, preferencesProcessingAllowed: false, saleOfDataAllowed: false}})),
  };
}

beforeEach(async () => {
  vi.useFakeTimers();
  registered = null;
  vi.resetModules();
  await import('../src/index');
});

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe('relance pixel', () => {
  it('subscribes to the six events', () => {
    const p = start(ALLOWED);
    expect([...p.subs.keys()].sort()).toEqual([
      'checkout_completed', 'checkout_contact_info_submitted', 'checkout_started', 'collection_viewed', 'product_added_to_cart', 'product_viewed',
    ]);
  });

  it('sends nothing without analytics and marketing consent', async () => {
    for (const privacy of [DENIED, {analyticsProcessingAllowed: true, marketingAllowed: false}, {analyticsProcessingAllowed: false, marketingAllowed: true}]) {
      const p = start(privacy);
      p.emit(recorded.productViewed());
      p.emit(recorded.checkoutContactInfoSubmitted());
      p.emit(recorded.checkoutCompleted());
      await vi.advanceTimersByTimeAsync(60_000);
      expect(p.sent).toEqual([]);
    }
  });

  it('batches browsing events and sends the compact payload', async () => {
    const p = start(ALLOWED);
    const viewed = recorded.productViewed();
    p.emit(viewed);
    p.emit(recorded.collectionViewed());
    p.emit(recorded.productAddedToCart());
    expect(p.sent).toEqual([]); // buffered
    await vi.advanceTimersByTimeAsync(2000);
    expect(p.sent).toHaveLength(1);
    const [req] = p.sent;
    expect(req.url).toBe('https://relance.example.com/pixel/events');
    expect(req.init.method).toBe('POST');
    expect(req.init.keepalive).toBe(true);
    expect(req.body).toEqual({
      shop: 'acme.myshopify.com',
      client_id: recorded.clientId,
      customer_id: '7001',
      events: [
        {id: viewed.id, name: 'product_viewed', timestamp: viewed.timestamp, data: {
          product_id: '8123456789012', product_title: 'Clay mask', variant_id: '44521880109211', variant_title: '50 ml',
          price: '24.00', currency: 'EUR', url: '/products/clay-mask', cart_token: 'Z2NwLWV1cm9wZS13ZXN0?key=secretkey'}},
        {id: expect.any(String), name: 'collection_viewed', timestamp: expect.any(String), data: {collection_id: '412345678', collection_title: 'Masks'}},
        {id: expect.any(String), name: 'product_added_to_cart', timestamp: expect.any(String), data: {
          product_id: '8123456789012', product_title: 'Clay mask', variant_id: '44521880109211', variant_title: '50 ml',
          price: '24.00', currency: 'EUR', url: '/products/clay-mask', quantity: 1, cart_token: 'Z2NwLWV1cm9wZS13ZXN0?key=secretkey'}},
      ],
    });
    // Nothing personal leaves the browser on browsing events.
    expect(JSON.stringify(req.body)).not.toContain('Rivoli');
    expect(JSON.stringify(req.body)).not.toContain('@');
  });

  it('sends checkout steps at once, with the email only on contact info', async () => {
    const p = start(ALLOWED);
    p.emit(recorded.productViewed());
    p.emit(recorded.checkoutStarted());
    expect(p.sent).toHaveLength(1);
    expect(p.sent[0].body.events.map((e: any) => e.name)).toEqual(['product_viewed', 'checkout_started']);
    const started = p.sent[0].body.events[1].data;
    expect(started).toEqual({
      checkout_token: 'ck-7f3a9c', price: '52.90', currency: 'EUR', cart_token: 'Z2NwLWV1cm9wZS13ZXN0?key=secretkey',
      lines: [{product_id: '8123456789012', product_title: 'Clay mask', variant_id: '44521880109211', variant_title: '50 ml',
        price: '24.00', currency: 'EUR', url: '/products/clay-mask', quantity: 2}],
    });
    expect(started).not.toHaveProperty('email');

    p.emit(recorded.checkoutContactInfoSubmitted());
    expect(p.sent).toHaveLength(2);
    expect(p.sent[1].body.events[0].data.email).toBe('ann@example.com');

    p.emit(recorded.checkoutCompleted());
    expect(p.sent).toHaveLength(3);
    const done = p.sent[2].body.events[0].data;
    expect(done.order_id).toBe('5550001');
    expect(done).not.toHaveProperty('email');
  });

  it('follows consent changes on the page', async () => {
    const p = start(ALLOWED);
    p.emit(recorded.productViewed());
    p.consent(DENIED); // buffered events are dropped, not sent
    await vi.advanceTimersByTimeAsync(10_000);
    p.emit(recorded.checkoutStarted());
    expect(p.sent).toEqual([]);

    p.consent(ALLOWED);
    p.emit(recorded.checkoutCompleted());
    expect(p.sent).toHaveLength(1);
    expect(p.sent[0].body.events.map((e: any) => e.name)).toEqual(['checkout_completed']);

    const late = start(DENIED);
    late.consent(ALLOWED);
    late.emit(recorded.checkoutStarted());
    expect(late.sent).toHaveLength(1);
  });

  it('caps batches and ignores repeated event ids', async () => {
    const p = start(ALLOWED);
    for (let i = 0; i < 45; i++) p.emit(recorded.productViewed(`e-${i}`));
    p.emit(recorded.productViewed('e-0'));
    expect(p.sent.map((s) => s.body.events.length)).toEqual([20, 20]);
    await vi.advanceTimersByTimeAsync(2000);
    expect(p.sent.map((s) => s.body.events.length)).toEqual([20, 20, 5]);
  });

  it('passes on the click token of a Relance email link', () => {
    const p = start(ALLOWED, undefined, 'https://shop.example/products/clay-mask?utm_source=relance&rl=AbC_12-x');
    p.emit(recorded.checkoutStarted());
    expect(p.sent[0].body.rl).toBe('AbC_12-x');
    const q = start(ALLOWED, undefined, 'https://shop.example/?rl=<script>');
    q.emit(recorded.checkoutStarted());
    expect(q.sent[0].body).not.toHaveProperty('rl');
  });

  it('sends nothing to a URL that is not https', async () => {
    for (const appUrl of ['http://relance.example.com', 'javascript:alert(1)', '', undefined]) {
      const p = start(ALLOWED, {accountID: 'acme.myshopify.com', appUrl});
      p.emit(recorded.checkoutStarted());
      await vi.advanceTimersByTimeAsync(5000);
      expect(p.sent).toEqual([]);
    }
  });
});

describe('bundle', () => {
  it('is built by esbuild under the 128 KB web pixel limit', async () => {
    const out = await build({
      entryPoints: [decodeURIComponent(new URL('../src/index.ts', import.meta.url).pathname)],
      bundle: true, format: 'esm', target: 'es2020', minify: true, write: false, logLevel: 'silent',
    });
    const size = out.outputFiles[0].contents.length;
    expect(size).toBeGreaterThan(500);
    expect(size).toBeLessThan(128 * 1024);
  });
});
