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
  const body = (await readJSON(res)) as { error?: unknown; fields?: unknown; errors?: unknown } | undefined;
  // Most routes answer a 422 as {error, fields}; PUT /api/quiz as {errors}
  // (with "" for a body that is not a quiz at all).
  const fields = { ...fieldsOf(body?.errors), ...fieldsOf(body?.fields) };
  if (status === 422) {
    const whole = fields[''];
    delete fields[''];
    const msg = body && typeof body.error === 'string' && body.error !== '' ? body.error : whole || 'Some fields need attention.';
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

/**
 * An event besides the goal that ends a shopper's way through a flow: leave
 * (the "not interested" link of its emails), emptied (the cart or checkout
 * was emptied or deleted).
 */
export type FlowExit = 'leave' | 'emptied';

/**
 * When a shopper who went through a flow may enter it again: never (once),
 * cooldown_days after the previous entry, or (both zero) as soon as they are
 * out of it.
 */
export interface Reentry {
  once: boolean;
  cooldown_days: number;
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
  exits: FlowExit[];
  /** The exits that make sense for this flow. */
  available_exits: FlowExit[];
  reentry: Reentry;
  has_draft: boolean;
}

export type DiscountKind = 'percentage' | 'fixed_amount' | 'free_shipping';

/**
 * One row of a step's discount tiers: carts worth from (inclusive) up to to
 * (exclusive; null: no upper bound) get the offer. Amounts are decimal
 * strings in the shop's currency ("49.90"); amount and minimum are "" when
 * none.
 */
export interface DiscountTier {
  from: string;
  to: string | null;
  kind: DiscountKind;
  percent: number;
  amount: string;
  minimum: string;
}

export interface DiscountTable {
  tiers: DiscountTier[];
  /** 0: the default, 48 hours. */
  expiry_hours: number;
  new_customers_only: boolean;
  /** Only carts strictly above this value get the offer; null: any cart. */
  carts_above: string | null;
  /** Codes start with it; "" = OFFER. */
  prefix: string;
}

/** GET/PUT/DELETE /api/flows/:key/steps/:step/discount. */
export interface StepDiscount {
  flow: string;
  step: string;
  /** false while the step makes the default offer. */
  custom: boolean;
  /** The shop's ISO 4217 currency, which every amount is in. */
  currency: string;
  table: DiscountTable;
}

/** A per-product replenishment override. */
export interface ProductLife {
  product_id: number;
  /** As last seen in an order; "" when never ordered. */
  title: string;
  days: number;
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

/** A product recommended to a quiz segment. */
export interface QuizProduct {
  /** Shopify product id (> 0). */
  id: number;
  title: string;
  /** Storefront path (/products/handle) or https URL. */
  url: string;
  image_url?: string;
}

/** A group of shoppers; key names the post-quiz flow branch ("segment:<key>"). */
export interface QuizSegment {
  key: string;
  name: string;
  products: QuizProduct[];
}

export interface QuizAnswer {
  id: string;
  text: string;
  /** The segment this answer votes for; absent or "" for none. */
  segment?: string;
}

export interface QuizQuestion {
  id: string;
  text: string;
  answers: QuizAnswer[];
}

export interface QuizDefinition {
  title: string;
  intro: string;
  questions: QuizQuestion[];
  segments: QuizSegment[];
  /** Chosen when no answer points to a segment. */
  default_segment: string;
}

/** GET and PUT /api/quiz. saved is false while the shop has no quiz (definition is then a starter). */
export interface QuizState {
  saved: boolean;
  definition: QuizDefinition;
}

/** One row of GET /api/quiz/stats. */
export interface QuizSegmentStats {
  segment: string;
  name: string;
  submissions: number;
  /** Gave marketing consent in the quiz. */
  subscribed: number;
  /** Ordered after submitting. */
  converted: number;
  /** converted / submissions (0..1). */
  conversion: number;
}

/** A DNS record to publish for a sending domain. */
export interface DNSRecord {
  /** SPF, DKIM, … */
  record: string;
  /** Relative to the domain ("send", "resend._domainkey"). */
  name: string;
  /** MX, TXT, CNAME. */
  type: string;
  ttl: string;
  status: string;
  value: string;
  priority?: number;
}

/** not_started | pending | verified | failed (as Resend reports it). */
export type SendingDomainStatus = 'not_started' | 'pending' | 'verified' | 'failed' | (string & {});

export interface SendingDomain {
  name: string;
  status: SendingDomainStatus;
  verified: boolean;
  region: string;
  records: DNSRecord[];
  checked_at: string | null;
  verified_at: string | null;
  created_at: string;
}

/** Every /api/sending-domain answer. */
export interface SendingDomainState {
  /** Whether domains can be added (Resend configured). */
  available: boolean;
  /** The address emails go out from now. */
  from_email: string;
  domain: SendingDomain | null;
}

/** normalizeQuiz fills the lists a hand-written or starter definition may lack. */
function normalizeQuiz(s: Partial<QuizState> | null | undefined): QuizState {
  const d: Partial<QuizDefinition> = s?.definition ?? {};
  const arr = <T,>(v: T[] | null | undefined): T[] => (Array.isArray(v) ? v : []);
  return {
    saved: s?.saved === true,
    definition: {
      title: d.title ?? '',
      intro: d.intro ?? '',
      questions: arr(d.questions).map((q) => ({ ...q, answers: arr(q.answers).map((a) => ({ ...a, segment: a.segment ?? '' })) })),
      segments: arr(d.segments).map((g) => ({ ...g, products: arr(g.products) })),
      default_segment: d.default_segment ?? '',
    },
  };
}

function normalizeDomainState(s: Partial<SendingDomainState> | null | undefined): SendingDomainState {
  const d = s?.domain;
  return {
    available: s?.available === true,
    from_email: s?.from_email ?? '',
    domain: d ? { ...d, records: Array.isArray(d.records) ? d.records : [] } : null,
  };
}

/** quizForWire drops empty answer segments (the API's omitempty) before a PUT. */
function quizForWire(d: QuizDefinition): QuizDefinition {
  return {
    ...d,
    questions: d.questions.map((q) => ({
      ...q,
      answers: q.answers.map(({ segment, ...a }) => (segment ? { ...a, segment } : a)),
    })),
  };
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
      const f = await get<Partial<Flow> & Pick<Flow, 'key' | 'name' | 'enabled' | 'version' | 'goal' | 'has_draft'>>(`/api/flows/${seg(key)}`);
      const list = <T,>(v: T[] | null | undefined): T[] => (Array.isArray(v) ? v : []);
      return {
        ...f,
        steps: list(f.steps),
        exits: list(f.exits),
        available_exits: list(f.available_exits),
        reentry: { once: f.reentry?.once === true, cooldown_days: f.reentry?.cooldown_days ?? 0 },
      };
    },
    saveDraft: (f: Flow) => call<unknown>('PUT', `/api/flows/${seg(f.key)}/draft`, f),
    publishFlow: (key: string, moveWaiting: boolean) =>
      call<unknown>('POST', `/api/flows/${seg(key)}/publish`, { move_waiting: moveWaiting }),
    async listFlowVersions(key: string): Promise<FlowVersion[]> {
      return normalizePage(await get<Partial<Page<FlowVersion>>>(`/api/flows/${seg(key)}/versions`)).items;
    },

    getDiscount: (flow: string, step: string) => get<StepDiscount>(`/api/flows/${seg(flow)}/steps/${seg(step)}/discount`),
    saveDiscount: (flow: string, step: string, t: DiscountTable) =>
      call<StepDiscount>('PUT', `/api/flows/${seg(flow)}/steps/${seg(step)}/discount`, t),
    resetDiscount: (flow: string, step: string) => call<StepDiscount>('DELETE', `/api/flows/${seg(flow)}/steps/${seg(step)}/discount`),

    async listProductLives(q: PageQuery = {}): Promise<Page<ProductLife>> {
      const path = withQuery('/api/replenishment/products', { limit: q.limit, cursor: q.cursor });
      return normalizePage(await get<Partial<Page<ProductLife>>>(path));
    },
    setProductLife: (productId: number, days: number) =>
      call<ProductLife>('PUT', `/api/replenishment/products/${seg(String(productId))}`, { days }),
    deleteProductLife: (productId: number) => call<unknown>('DELETE', `/api/replenishment/products/${seg(String(productId))}`),

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

    async getQuiz(): Promise<QuizState> {
      return normalizeQuiz(await get<Partial<QuizState>>('/api/quiz'));
    },
    async saveQuiz(d: QuizDefinition): Promise<QuizState> {
      return normalizeQuiz(await call<Partial<QuizState>>('PUT', '/api/quiz', quizForWire(d)));
    },
    async getQuizStats(): Promise<QuizSegmentStats[]> {
      const s = await get<{ segments?: QuizSegmentStats[] | null }>('/api/quiz/stats');
      return Array.isArray(s.segments) ? s.segments : [];
    },

    async getSendingDomain(): Promise<SendingDomainState> {
      return normalizeDomainState(await get<Partial<SendingDomainState>>('/api/sending-domain'));
    },
    async addSendingDomain(domain: string): Promise<SendingDomainState> {
      return normalizeDomainState(await call<Partial<SendingDomainState>>('POST', '/api/sending-domain', { domain: domain.trim() }));
    },
    async verifySendingDomain(): Promise<SendingDomainState> {
      return normalizeDomainState(await call<Partial<SendingDomainState>>('POST', '/api/sending-domain/verify'));
    },

    async getMetrics(days: MetricsDays): Promise<Metrics> {
      const m = await get<Metrics>(withQuery('/api/metrics', { days }));
      return { ...m, series: Array.isArray(m.series) ? m.series : [] };
    },
  };
}

export type Api = ReturnType<typeof createApi>;

/** The client the app uses. */
export const api: Api = createApi();
