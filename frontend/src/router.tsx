// A small client router: the admin has seven pages and a few parameters, so
// history.pushState and a path matcher are enough. The query string
// (?shop=…&host=… that Shopify and `make dev` put there) is carried over on
// every navigation, because the session token needs it outside Shopify.
import { createContext, useContext, useEffect, useState, type AnchorHTMLAttributes, type ReactNode } from 'react';

export type Route =
  | { page: 'home' }
  | { page: 'sequences' }
  | { page: 'sequence'; key: string }
  | { page: 'activity' }
  | { page: 'contact'; id: string }
  | { page: 'quiz' }
  | { page: 'settings' }
  | { page: 'outbox' }
  | { page: 'outboxMessage'; id: string }
  | { page: 'notFound' };

/** matchRoute maps a pathname to a page. */
export function matchRoute(pathname: string): Route {
  const parts = pathname.split('/').filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  const [a, b, ...rest] = parts;
  if (rest.length > 0) return { page: 'notFound' };
  if (a === undefined) return { page: 'home' };
  switch (a) {
    case 'sequences':
      return b === undefined ? { page: 'sequences' } : { page: 'sequence', key: b };
    case 'activity':
      return b === undefined ? { page: 'activity' } : { page: 'contact', id: b };
    case 'contacts':
      return b === undefined ? { page: 'activity' } : { page: 'contact', id: b };
    case 'quiz':
      return b === undefined ? { page: 'quiz' } : { page: 'notFound' };
    case 'settings':
      return b === undefined ? { page: 'settings' } : { page: 'notFound' };
    case 'outbox':
      return b === undefined ? { page: 'outbox' } : { page: 'outboxMessage', id: b };
    default:
      return { page: 'notFound' };
  }
}

/** Query parameters that identify the shop and must survive navigation. */
const KEEP = ['shop', 'host', 'embedded', 'locale'];

/** hrefFor builds an in-app URL that keeps the shop parameters of search. */
export function hrefFor(to: string, search: string = globalThis.location?.search ?? ''): string {
  const [path, own = ''] = to.split('?');
  const cur = new URLSearchParams(search);
  const next = new URLSearchParams(own);
  for (const k of KEEP) {
    const v = cur.get(k);
    if (v !== null && !next.has(k)) next.set(k, v);
  }
  const qs = next.toString();
  return qs ? `${path}?${qs}` : path;
}

const NAV_EVENT = 'relance:navigate';

export function navigate(to: string, opts: { replace?: boolean } = {}) {
  const href = hrefFor(to);
  if (opts.replace) window.history.replaceState(null, '', href);
  else window.history.pushState(null, '', href);
  window.dispatchEvent(new Event(NAV_EVENT));
  window.scrollTo?.(0, 0);
}

/** isInternal tells whether a link stays in the app (same origin, not a download or new tab). */
export function isInternal(url: string): boolean {
  if (url.startsWith('/') && !url.startsWith('//')) return true;
  try {
    return new URL(url, window.location.href).origin === window.location.origin;
  } catch {
    return false;
  }
}

const RouteContext = createContext<Route>({ page: 'home' });

export function RouterProvider({ children }: { children: ReactNode }) {
  const [path, setPath] = useState(() => window.location.pathname);
  useEffect(() => {
    const update = () => setPath(window.location.pathname);
    // App Bridge's nav menu (ui-nav-menu) announces clicks with
    // shopify:navigate on the link; route them here.
    const onShopify = (e: Event) => {
      const href = (e.target as Element | null)?.getAttribute?.('href');
      if (href) navigate(href);
    };
    window.addEventListener('popstate', update);
    window.addEventListener(NAV_EVENT, update);
    document.addEventListener('shopify:navigate', onShopify);
    return () => {
      window.removeEventListener('popstate', update);
      window.removeEventListener(NAV_EVENT, update);
      document.removeEventListener('shopify:navigate', onShopify);
    };
  }, []);
  return <RouteContext.Provider value={matchRoute(path)}>{children}</RouteContext.Provider>;
}

export function useRoute(): Route {
  return useContext(RouteContext);
}

type LinkProps = AnchorHTMLAttributes<HTMLAnchorElement> & { url: string; external?: boolean; children?: ReactNode };

/**
 * AppLink is Polaris's link component (AppProvider linkComponent): in-app
 * URLs navigate without reloading; plain clicks only, so ctrl/cmd-click
 * still opens a tab.
 */
export function AppLink({ url, external, children, onClick, ...rest }: LinkProps) {
  const internal = !external && isInternal(url);
  return (
    <a
      {...rest}
      href={internal ? hrefFor(url) : url}
      target={external ? '_blank' : rest.target}
      rel={external ? 'noopener noreferrer' : rest.rel}
      onClick={(e) => {
        onClick?.(e);
        if (e.defaultPrevented || !internal || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
        e.preventDefault();
        navigate(url);
      }}
    >
      {children}
    </a>
  );
}
