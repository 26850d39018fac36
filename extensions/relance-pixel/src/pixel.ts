// The Relance web pixel: subscribes to the storefront events the sequences
// need, reduces each to a few fields and sends them in small batches to
// POST {appUrl}/pixel/events. Nothing leaves the browser unless the visitor
// allowed both analytics and marketing (customerPrivacy), re-checked on every
// consent change.

import type {ExtensionApi} from '@shopify/web-pixels-extension';

export const EVENTS = [
  'product_viewed',
  'collection_viewed',
  'product_added_to_cart',
  'checkout_started',
  'checkout_contact_info_submitted',
  'checkout_completed',
] as const;

export type EventName = (typeof EVENTS)[number];

/** A batch event: the pixel event reduced to what Relance uses. */
export interface OutEvent {
  id: string;
  name: EventName;
  timestamp: string;
  data: Record<string, unknown>;
}

/** The body of POST /pixel/events. */
export interface Batch {
  shop: string;
  client_id: string;
  customer_id: string | null;
  rl?: string;
  events: OutEvent[];
}

export const MAX_BATCH = 20; // events per request
export const FLUSH_MS = 2000; // longest an event waits in the buffer
export const MAX_LINES = 20; // checkout lines kept
const MAX_TEXT = 120;

// Checkout steps are sent at once: the page changes right after them.
const URGENT: ReadonlySet<string> = new Set(['checkout_started', 'checkout_contact_info_submitted', 'checkout_completed']);

type Privacy = {analyticsProcessingAllowed: boolean; marketingAllowed: boolean};

export function allowed(p: Privacy | null | undefined): boolean {
  return !!p && p.analyticsProcessingAllowed === true && p.marketingAllowed === true;
}

/** "gid://shopify/Product/123" → "123"; numbers and plain ids as strings. */
export function shortId(id: unknown): string | null {
  if (id === null || id === undefined || id === '') return null;
  const s = String(id);
  const i = s.lastIndexOf('/');
  return (i >= 0 ? s.slice(i + 1) : s).split('?')[0] || null;
}

function text(s: unknown): string | null {
  if (typeof s !== 'string' || s === '') return null;
  return s.length > MAX_TEXT ? s.slice(0, MAX_TEXT) : s;
}

function money(m: any): {price: string | null; currency: string | null} {
  if (!m || typeof m.amount !== 'number' || !isFinite(m.amount)) return {price: null, currency: null};
  return {price: m.amount.toFixed(2), currency: text(m.currencyCode)};
}

function variant(v: any): Record<string, unknown> {
  if (!v) return {};
  const {price, currency} = money(v.price);
  return {
    product_id: shortId(v.product?.id),
    product_title: text(v.product?.title),
    variant_id: shortId(v.id),
    variant_title: text(v.title),
    price,
    currency,
    url: relativeUrl(v.product?.url),
  };
}

/**
 * Cart token from a cart id ("gid://shopify/Cart/<token>?key=…"): the part
 * after the GID prefix, "?key=…" included, since carts/* webhooks carry the
 * token in that same form and internal/pixel matches it verbatim.
 */
export function cartToken(cart: any): string | null {
  const id = cart?.id;
  if (typeof id !== 'string' || id === '') return null;
  const t = id.startsWith('gid://shopify/Cart/') ? id.slice('gid://shopify/Cart/'.length) : id;
  return t.length > 0 && t.length <= 256 ? t : null;
}

/** rl is the signed click token Relance adds to email links (?rl=…), if the landing page had one. */
export function clickToken(href: unknown): string | null {
  if (typeof href !== 'string') return null;
  try {
    const rl = new URL(href).searchParams.get('rl');
    return rl && /^[A-Za-z0-9_-]{1,64}$/.test(rl) ? rl : null;
  } catch {
    return null;
  }
}

function relativeUrl(u: unknown): string | null {
  return typeof u === 'string' && u.startsWith('/') && !u.startsWith('//') && u.length <= 1024 ? u : null;
}

function checkout(c: any, withEmail: boolean): Record<string, unknown> {
  if (!c) return {};
  const total = money(c.totalPrice);
  const out: Record<string, unknown> = {
    checkout_token: text(c.token),
    price: total.price,
    currency: total.currency ?? text(c.currencyCode),
    lines: (Array.isArray(c.lineItems) ? c.lineItems : []).slice(0, MAX_LINES).map((l: any) => ({
      ...variant(l?.variant),
      quantity: typeof l?.quantity === 'number' ? l.quantity : null,
    })),
  };
  if (c.order?.id) out.order_id = shortId(c.order.id);
  if (withEmail && typeof c.email === 'string' && c.email !== '') out.email = c.email;
  return out;
}

/** reduce keeps only what Relance needs from a pixel event's data. */
export function reduce(name: EventName, data: any, cart: string | null): Record<string, unknown> {
  switch (name) {
    case 'product_viewed':
      return {...variant(data?.productVariant), cart_token: cart};
    case 'collection_viewed':
      return {collection_id: shortId(data?.collection?.id), collection_title: text(data?.collection?.title)};
    case 'product_added_to_cart': {
      const line = data?.cartLine;
      return {
        ...variant(line?.merchandise),
        quantity: typeof line?.quantity === 'number' ? line.quantity : null,
        cart_token: cart,
      };
    }
    case 'checkout_contact_info_submitted':
      return {...checkout(data?.checkout, true), cart_token: cart};
    default:
      return {...checkout(data?.checkout, false), cart_token: cart};
  }
}

/** endpoint returns {appUrl}/pixel/events, or null for a URL we must not post to. */
export function endpoint(appUrl: unknown): string | null {
  if (typeof appUrl !== 'string') return null;
  let u: URL;
  try {
    u = new URL(appUrl);
  } catch {
    return null;
  }
  const local = u.hostname === 'localhost' || u.hostname === '127.0.0.1';
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && local)) return null;
  return u.origin + u.pathname.replace(/\/+$/, '') + '/pixel/events';
}

export interface Deps {
  fetch: (url: string, init: RequestInit) => Promise<unknown>;
  setTimeout: (fn: () => void, ms: number) => unknown;
  clearTimeout: (t: any) => void;
}

/** pixel is the register() callback. */
export function pixel(api: ExtensionApi, deps: Deps): void {
  const {analytics, init, settings, customerPrivacy} = api;
  const url = endpoint(settings?.appUrl);
  const shop = text(settings?.accountID) ?? text(init?.data?.shop?.myshopifyDomain);
  if (!url || !shop) return; // not activated properly: send nothing

  let privacy: Privacy | null = init?.customerPrivacy ?? null;
  const customerId = shortId(init?.data?.customer?.id);
  const cart = cartToken(init?.data?.cart);
  const rl = clickToken(init?.context?.document?.location?.href);
  let buffer: OutEvent[] = [];
  let clientId = '';
  let timer: unknown = null;
  const seen = new Set<string>();

  const flush = (): void => {
    if (timer !== null) {
      deps.clearTimeout(timer);
      timer = null;
    }
    if (buffer.length === 0) return;
    if (!allowed(privacy)) {
      buffer = [];
      return;
    }
    const body: Batch = {shop, client_id: clientId, customer_id: customerId, events: buffer};
    if (rl) body.rl = rl;
    buffer = [];
    // No Content-Type header: a string body is text/plain, a CORS "simple"
    // request, so keepalive works without a preflight.
    deps.fetch(url, {method: 'POST', body: JSON.stringify(body), keepalive: true}).catch(() => {
      // Analytics are best effort: a lost batch is not retried.
    });
  };

  customerPrivacy.subscribe('visitorConsentCollected', (e) => {
    privacy = e.customerPrivacy;
    if (!allowed(privacy)) {
      buffer = [];
      if (timer !== null) {
        deps.clearTimeout(timer);
        timer = null;
      }
    }
  });

  for (const name of EVENTS) {
    analytics.subscribe(name, (event: any) => {
      if (!allowed(privacy) || !event || typeof event.id !== 'string' || seen.has(event.id)) return;
      seen.add(event.id);
      if (typeof event.clientId === 'string' && event.clientId !== '') {
        if (clientId !== '' && event.clientId !== clientId) flush(); // one client per batch
        clientId = event.clientId;
      }
      if (clientId === '') return;
      buffer.push({
        id: event.id,
        name,
        timestamp: typeof event.timestamp === 'string' ? event.timestamp : new Date().toISOString(),
        data: reduce(name, event.data, cart),
      });
      if (URGENT.has(name) || buffer.length >= MAX_BATCH) {
        flush();
      } else if (timer === null) {
        timer = deps.setTimeout(flush, FLUSH_MS);
      }
    });
  }
}
