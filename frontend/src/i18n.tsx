// All admin text, in English and French. The locale follows the merchant's
// Shopify admin: App Bridge's shopify.config.locale inside Shopify, else the
// browser's language; anything but French falls back to English.
import { createContext, useContext, useMemo, type ReactNode } from 'react';

import { en } from './messages/en';
import { fr } from './messages/fr';

export type Lang = 'en' | 'fr';
export type MessageKey = keyof typeof en;
export type Messages = Record<MessageKey, string>;

export const dictionaries: Record<Lang, Messages> = { en, fr };

/** toLang maps a BCP 47 tag ("fr-CA", "en-US", "pt-BR") to a supported language. */
export function toLang(tag: string | null | undefined): Lang {
  return (tag ?? '').trim().toLowerCase().split(/[-_]/)[0] === 'fr' ? 'fr' : 'en';
}

/** detectLang reads the admin locale: ?locale=, App Bridge's config, then the browser. */
export function detectLang(g: typeof globalThis = globalThis): Lang {
  const param = new URLSearchParams(g.location?.search ?? '').get('locale');
  if (param) return toLang(param);
  const ab = (g as { shopify?: { config?: { locale?: unknown } } }).shopify;
  const abLocale = ab?.config?.locale;
  if (typeof abLocale === 'string' && abLocale !== '') return toLang(abLocale);
  return toLang(g.navigator?.language);
}

/** format replaces {name} placeholders with vars; unknown ones stay as they are. */
export function format(template: string, vars: Record<string, string | number> = {}): string {
  return template.replace(/\{(\w+)\}/g, (m, k: string) => (k in vars ? String(vars[k]) : m));
}

export interface I18n {
  lang: Lang;
  t: (key: MessageKey, vars?: Record<string, string | number>) => string;
  /** maybe translates a key computed at run time, or says there is none. */
  maybe: (key: string) => string | undefined;
  /**
   * flowName is a sequence's name in the admin's language: the translation
   * of its key while name is the default (English) one or missing, else the
   * name the merchant gave it.
   */
  flowName: (key: string, name?: string) => string;
  number: (n: number, opts?: Intl.NumberFormatOptions) => string;
  money: (n: number, currency?: string) => string;
  percent: (ratio: number) => string;
  dateTime: (iso: string) => string;
  date: (iso: string) => string;
}

export function makeI18n(lang: Lang): I18n {
  const dict = dictionaries[lang];
  const tag = lang === 'fr' ? 'fr-FR' : 'en-US';
  const nf = (opts?: Intl.NumberFormatOptions) => new Intl.NumberFormat(tag, opts);
  const parse = (iso: string) => {
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? null : d;
  };
  return {
    lang,
    t: (key, vars) => format(dict[key] ?? en[key] ?? key, vars),
    maybe: (key) => (Object.prototype.hasOwnProperty.call(dict, key) ? dict[key as MessageKey] : undefined),
    flowName: (key, name) => {
      const k = `flow.${key}`;
      const known = Object.prototype.hasOwnProperty.call(en, k);
      if (!known) return name || key;
      return !name || name === en[k as MessageKey] ? dict[k as MessageKey] : name;
    },
    number: (n, opts) => nf(opts).format(Number.isFinite(n) ? n : 0),
    money: (n, currency) => {
      const v = Number.isFinite(n) ? n : 0;
      try {
        return nf({ style: 'currency', currency: currency || 'EUR', maximumFractionDigits: 2 }).format(v);
      } catch {
        return nf({ maximumFractionDigits: 2 }).format(v); // an unknown currency code
      }
    },
    percent: (r) => nf({ style: 'percent', maximumFractionDigits: 1 }).format(Number.isFinite(r) ? r : 0),
    dateTime: (iso) => {
      const d = parse(iso);
      return d ? new Intl.DateTimeFormat(tag, { dateStyle: 'medium', timeStyle: 'short' }).format(d) : iso;
    },
    date: (iso) => {
      const d = parse(iso);
      return d ? new Intl.DateTimeFormat(tag, { day: 'numeric', month: 'short' }).format(d) : iso;
    },
  };
}

export const I18nContext = createContext<I18n>(makeI18n('en'));

export function I18nProvider({ lang, children }: { lang: Lang; children: ReactNode }) {
  const value = useMemo(() => makeI18n(lang), [lang]);
  return <I18nContext.Provider value={value}>{children}</I18nContext.Provider>;
}

export function useI18n(): I18n {
  return useContext(I18nContext);
}
