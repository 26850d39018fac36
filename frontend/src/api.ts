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
  constructor(status: number, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
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
  const body = (await readJSON(res)) as { error?: unknown } | undefined;
  if (body && typeof body.error === 'string' && body.error !== '') {
    return new ApiError(status, body.error);
  }
  if (status === 403) return new ApiError(status, "You don't have access to this.");
  if (status === 404) return new ApiError(status, 'Not found.');
  return new ApiError(status, `Request failed (${status}).`);
}

async function readJSON(res: Response): Promise<unknown> {
  try {
    return await res.json();
  } catch {
    return undefined;
  }
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
  };
}

export type Api = ReturnType<typeof createApi>;

/** The client the app uses. */
export const api: Api = createApi();
