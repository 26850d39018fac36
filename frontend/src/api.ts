// The one module that talks to the Relance backend. Views and components
// never call fetch: they call the functions exported here, which attach the
// session token and turn every failure into an ApiError with a message a
// merchant can read.
//
// Session token: inside the Shopify admin, App Bridge (loaded from Shopify's
// CDN by index.html) provides `shopify.idToken()`. Outside Shopify — `make dev`
// on http://localhost:8080/?shop=… — the dev-only backend route
// /dev/session-token?shop=… mints one for the simulated dev shop.

/** The installed shop, as GET /api/shop returns it. */
export interface Shop {
  domain: string;
  name: string;
  scopes: string[];
  /** ISO 8601 timestamp. */
  installedAt: string;
}

/** Wire format of GET /api/shop. */
interface ShopJSON {
  domain: string;
  name: string;
  scopes: string[] | null;
  installed_at: string;
}

/** A failed API call. `status` is 0 when the server could not be reached. */
export class ApiError extends Error {
  readonly status: number;
  /**
   * Field-level validation errors of a 422, keyed by the field's path in the
   * request body ("reply_to", "steps.1.body"); empty otherwise.
   */
  readonly fields: Record<string, string>;
  constructor(status: number, message: string, fields: Record<string, string> = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.fields = fields;
  }
}

type FetchFn = (input: string, init?: RequestInit) => Promise<Response>;

export interface ApiOptions {
  fetch?: FetchFn;
  /** Returns a session token for the current shop. */
  getToken?: () => Promise<string>;
}

interface AppBridgeGlobal {
  idToken(): Promise<string>;
}

/** The App Bridge global, when the page runs inside the Shopify admin. */
function appBridge(): AppBridgeGlobal | undefined {
  const s = (globalThis as { shopify?: Partial<AppBridgeGlobal> }).shopify;
  return s && typeof s.idToken === 'function' ? (s as AppBridgeGlobal) : undefined;
}

/** The shop named in the page URL (?shop=…), if any. */
export function shopFromLocation(search: string = globalThis.location?.search ?? ''): string | null {
  const shop = new URLSearchParams(search).get('shop');
  return shop && shop.trim() !== '' ? shop.trim() : null;
}

/**
 * sessionToken asks App Bridge for a fresh session token, or, outside the
 * Shopify admin, the dev backend.
 */
export async function sessionToken(fetchFn: FetchFn = defaultFetch): Promise<string> {
  const ab = appBridge();
  if (ab) {
    return ab.idToken();
  }
  const shop = shopFromLocation();
  if (!shop) {
    throw new ApiError(401, 'Open Relance from your Shopify admin.');
  }
  const res = await send(fetchFn, `/dev/session-token?shop=${encodeURIComponent(shop)}`, {
    headers: { Accept: 'application/json' },
  });
  const body = (await readJSON(res)) as { token?: unknown } | undefined;
  if (!body || typeof body.token !== 'string' || body.token === '') {
    throw new ApiError(res.status, 'The dev server returned no session token.');
  }
  return body.token;
}

function defaultFetch(input: string, init?: RequestInit): Promise<Response> {
  return globalThis.fetch(input, init);
}

/** send performs a request and throws an ApiError unless the answer is 2xx. */
async function send(fetchFn: FetchFn, path: string, init: RequestInit): Promise<Response> {
  let res: Response;
  try {
    res = await fetchFn(path, init);
  } catch {
    throw new ApiError(0, "Can't reach Relance. Check your connection and try again.");
  }
  if (!res.ok) {
    throw await errorFrom(res);
  }
  return res;
}

/** errorFrom maps a non-2xx response to the message shown to the merchant. */
export async function errorFrom(res: Response): Promise<ApiError> {
  const status = res.status;
  if (status === 401) {
    return new ApiError(status, 'Your session has expired. Reload the page to continue.');
  }
  if (status === 429) {
    return new ApiError(status, 'Too many requests. Wait a moment and try again.');
  }
  if (status >= 500) {
    // The server never puts details in a 5xx body; don't pretend otherwise.
    return new ApiError(status, 'Relance ran into a problem. Try again in a moment.');
  }
  const body = (await readJSON(res)) as { error?: unknown; fields?: unknown } | undefined;
  const fields = fieldsOf(body?.fields);
  if (status === 422) {
    const msg = body && typeof body.error === 'string' && body.error !== '' ? body.error : 'Some fields need attention.';
    return new ApiError(status, msg, fields);
  }
  if (body && typeof body.error === 'string' && body.error !== '') {
    return new ApiError(status, body.error, fields);
  }
  if (status === 403) return new ApiError(status, "You don't have access to this.");
  if (status === 404) return new ApiError(status, 'Not found.');
  return new ApiError(status, `Request failed (${status}).`);
}

/** fieldsOf keeps the string entries of a 422's "fields" object. */
function fieldsOf(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    for (const [k, m] of Object.entries(v as Record<string, unknown>)) {
      if (typeof m === 'string') out[k] = m;
    }
  }
  return out;
}

async function readJSON(res: Response): Promise<unknown> {
  try {
    return await res.json();
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------
// Resources of the admin API. They keep the wire's snake_case: the editor
// sends back what it received (PUT draft, PUT settings), and 422 field paths
// ("steps.1.body") then name the same keys the forms use.

export type Locale = 'en' | 'fr';

export interface Settings {
  sender_name: string;
  owner_first_name: string;
  reply_to: string;
  postal_address: string;
  timezone: string;
  quiet_hours: { start: string; end: string } | null;
  frequency_cap_hours: number;
  reminders_without_consent: boolean;
  default_locale: Locale;
  replenishment_days: number;
  disengaged_days: number;
  dormant_days: number;
}

export interface FlowSummary {
  key: string;
  name: string;
  enabled: boolean;
  version: number;
  waiting: number;
  sent_30d: number;
  skipped_30d: number;
}

/** Lower-case English weekday abbreviations, as the API spells them. */
export type Weekday = 'sun' | 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat';

/**
 * A step's delay: a plain wait in hours ({hours}), or a number of days then
 * a time of day, on some weekdays ({days, at, weekdays}). The replenishment
 * flow also has {usable_life: true, at, weekdays}: when the product runs out.
 */
export interface Delay {
  hours?: number;
  days?: number;
  usable_life?: boolean;
  at?: string;
  weekdays?: Weekday[];
}

export type MessageClass = 'transactional' | 'promotional';

export interface Step {
  key: string;
  /** The branch of flows that have several (welcome: customer/new, …). */
  branch?: string;
  delay: Delay;
  class: MessageClass;
  /** Whether the step carries the flow's discount offer. */
  offer: boolean;
  subject: string;
  preheader: string;
  body: string;
}

export interface Flow {
  key: string;
  name: string;
  enabled: boolean;
  version: number;
  goal: string;
  /** The language of the content (en|fr). */
  locale?: string;
  steps: Step[];
  has_draft: boolean;
}

export interface FlowVersion {
  version: number;
  published_at: string;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface PageQuery {
  limit?: number;
  cursor?: string | null;
}

export interface PreviewRequest {
  flow: string;
  step: string;
  subject: string;
  preheader: string;
  body: string;
  locale: Locale;
  contact_id?: string;
}

export interface Preview {
  subject: string;
  preheader: string;
  html: string;
  text: string;
}

export interface TestEmailRequest extends Omit<PreviewRequest, 'contact_id'> {
  to: string;
}

/** Ids are numbers on the wire; the UI only puts them in URLs. */
export type Id = number | string;

export interface ActivityItem {
  id: Id;
  at: string;
  contact_id: Id;
  email: string;
  flow: string;
  step: string;
  decision: string;
  reason: string;
}

export interface Contact {
  id?: Id;
  email?: string;
  first_name?: string;
  consent?: string;
  suppressed?: boolean;
  [k: string]: unknown;
}

export interface ContactTimeline {
  contact: Contact;
  items: ActivityItem[];
  next_cursor?: string | null;
}

export interface OutboxMessage {
  id: Id;
  at: string;
  to: string;
  subject: string;
  html: string;
  text: string;
}

export type MetricsDays = 7 | 30 | 90;

export interface Metrics {
  /** ISO 4217 currency of the money figures (the shop's). */
  currency?: string;
  sent: number;
  recovered_orders: number;
  recovery_rate: number;
  revenue: number;
  revenue_per_email: number;
  conversion_per_email: number;
  aov_recovered: number;
  aov_overall: number;
  series: { day: string; sent: number; revenue: number }[];
}

/** withQuery appends the defined, non-empty parameters to path. */
export function withQuery(path: string, params: Record<string, string | number | null | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const qs = q.toString();
  return qs ? `${path}?${qs}` : path;
}

const seg = encodeURIComponent;

/** normalizePage accepts a list answer whose items or cursor may be missing. */
function normalizePage<T>(p: Partial<Page<T>> | null | undefined): Page<T> {
  return { items: Array.isArray(p?.items) ? p.items : [], next_cursor: p?.next_cursor ?? null };
}

/** createApi builds the client; tests pass their own fetch and token source. */
export function createApi(opts: ApiOptions = {}) {
  const fetchFn = opts.fetch ?? defaultFetch;
  const getToken = opts.getToken ?? (() => sessionToken(fetchFn));

  async function getJSON<T>(path: string): Promise<T> {
    const token = await getToken();
    const res = await send(fetchFn, path, {
      headers: { Accept: 'application/json', Authorization: `Bearer ${token}` },
    });
    const body = await readJSON(res);
    if (body === undefined) {
      throw new ApiError(res.status, 'Relance sent an unreadable answer.');
    }
    return body as T;
  }

  /**
   * call sends a JSON body (when given) and returns the JSON answer, or
   * undefined for an answer without one (202, 204).
   */
  async function call<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const token = await getToken();
    const headers: Record<string, string> = { Accept: 'application/json', Authorization: `Bearer ${token}` };
    const init: RequestInit = { method, headers };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    if (signal) init.signal = signal;
    const res = await send(fetchFn, path, init);
    if (res.status === 202 || res.status === 204) return undefined as T;
    return (await readJSON(res)) as T;
  }

  async function get<T>(path: string, signal?: AbortSignal): Promise<T> {
    const body = await call<T | undefined>('GET', path, undefined, signal);
    if (body === undefined) {
      throw new ApiError(200, 'Relance sent an unreadable answer.');
    }
    return body;
  }

  return {
    /** The shop the session token belongs to. */
    async getShop(): Promise<Shop> {
      const s = await getJSON<ShopJSON>('/api/shop');
      return {
        domain: s.domain,
        name: s.name,
        scopes: s.scopes ?? [],
        installedAt: s.installed_at,
      };
    },

    getSettings: () => get<Settings>('/api/settings'),
    saveSettings: (s: Settings) => call<Settings | undefined>('PUT', '/api/settings', s),

    async listFlows(): Promise<FlowSummary[]> {
      return normalizePage(await get<Partial<Page<FlowSummary>>>('/api/flows')).items;
    },
    setFlowEnabled: (key: string, enabled: boolean) =>
      call<unknown>('POST', `/api/flows/${seg(key)}/enabled`, { enabled }),
    async getFlow(key: string): Promise<Flow> {
      const f = await get<Flow>(`/api/flows/${seg(key)}`);
      return { ...f, steps: Array.isArray(f.steps) ? f.steps : [] };
    },
    saveDraft: (f: Flow) => call<unknown>('PUT', `/api/flows/${seg(f.key)}/draft`, f),
    publishFlow: (key: string, moveWaiting: boolean) =>
      call<unknown>('POST', `/api/flows/${seg(key)}/publish`, { move_waiting: moveWaiting }),
    async listFlowVersions(key: string): Promise<FlowVersion[]> {
      return normalizePage(await get<Partial<Page<FlowVersion>>>(`/api/flows/${seg(key)}/versions`)).items;
    },

    preview: (req: PreviewRequest, signal?: AbortSignal) => call<Preview>('POST', '/api/preview', req, signal),
    sendTestEmail: (req: TestEmailRequest) => call<unknown>('POST', '/api/test-email', req),

    async listActivity(q: PageQuery & { q?: string } = {}): Promise<Page<ActivityItem>> {
      const path = withQuery('/api/activity', { q: q.q?.trim(), limit: q.limit, cursor: q.cursor });
      return normalizePage(await get<Partial<Page<ActivityItem>>>(path));
    },
    async getContactTimeline(id: Id): Promise<ContactTimeline> {
      const t = await get<Partial<ContactTimeline>>(`/api/contacts/${seg(String(id))}/timeline`);
      return { contact: t.contact ?? {}, items: Array.isArray(t.items) ? t.items : [] };
    },

    async listOutbox(q: PageQuery = {}): Promise<Page<OutboxMessage>> {
      return normalizePage(await get<Partial<Page<OutboxMessage>>>(withQuery('/api/outbox', { limit: q.limit, cursor: q.cursor })));
    },
    getOutboxMessage: (id: Id) => get<OutboxMessage>(`/api/outbox/${seg(String(id))}`),

    async getMetrics(days: MetricsDays): Promise<Metrics> {
      const m = await get<Metrics>(withQuery('/api/metrics', { days }));
      return { ...m, series: Array.isArray(m.series) ? m.series : [] };
    },
  };
}

export type Api = ReturnType<typeof createApi>;

/** The client the app uses. */
export const api: Api = createApi();
