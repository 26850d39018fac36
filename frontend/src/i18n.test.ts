import { describe, expect, it } from 'vitest';

import { detectLang, dictionaries, format, makeI18n, toLang } from './i18n';

const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

describe('dictionaries', () => {
  it('French has every English key, none empty, with the same placeholders', () => {
    const en = dictionaries.en;
    const fr = dictionaries.fr;
    expect(Object.keys(fr).sort()).toEqual(Object.keys(en).sort());
    for (const k of Object.keys(en) as (keyof typeof en)[]) {
      expect(fr[k].trim(), k).not.toBe('');
      expect(placeholders(fr[k]), k).toEqual(placeholders(en[k]));
    }
  });

  it('weekday names list seven days in both languages', () => {
    expect(dictionaries.en['delay.weekdayNames'].split(',')).toHaveLength(7);
    expect(dictionaries.fr['delay.weekdayNames'].split(',')).toHaveLength(7);
  });
});

describe('toLang', () => {
  it.each([
    ['fr', 'fr'],
    ['fr-CA', 'fr'],
    ['FR_fr', 'fr'],
    ['en-US', 'en'],
    ['de', 'en'],
    ['', 'en'],
    [undefined, 'en'],
  ])('%s → %s', (tag, want) => {
    expect(toLang(tag)).toBe(want);
  });
});

describe('detectLang', () => {
  const g = (search: string, abLocale: string | undefined, nav: string) =>
    ({
      location: { search },
      navigator: { language: nav },
      shopify: abLocale === undefined ? undefined : { config: { locale: abLocale } },
    }) as unknown as typeof globalThis;

  it('prefers App Bridge’s admin locale over the browser', () => {
    expect(detectLang(g('', 'fr', 'en-US'))).toBe('fr');
    expect(detectLang(g('', 'en', 'fr-FR'))).toBe('en');
  });
  it('falls back to the browser language outside Shopify', () => {
    expect(detectLang(g('?shop=a.myshopify.com', undefined, 'fr-FR'))).toBe('fr');
    expect(detectLang(g('', undefined, 'es-ES'))).toBe('en');
  });
  it('lets ?locale= override both (Shopify passes it on the app URL)', () => {
    expect(detectLang(g('?locale=fr', 'en', 'en-US'))).toBe('fr');
  });
});

describe('t and formats', () => {
  it('fills placeholders and leaves unknown ones', () => {
    expect(format('{a} and {b}', { a: 1 })).toBe('1 and {b}');
  });
  it('translates with variables', () => {
    expect(makeI18n('en').t('home.lastDays', { days: 7 })).toBe('Last 7 days');
    expect(makeI18n('fr').t('home.lastDays', { days: 7 })).toBe('7 derniers jours');
  });
  it('maybe answers only for known keys', () => {
    expect(makeI18n('fr').maybe('decision.sent')).toBe('Envoyé');
    expect(makeI18n('fr').maybe('decision.zzz')).toBeUndefined();
  });
  it('formats money and percentages per language', () => {
    expect(makeI18n('en').money(1234.5)).toBe('€1,234.50');
    expect(makeI18n('fr').money(1234.5).replace(/\s/g, ' ')).toBe('1 234,50 €');
    expect(makeI18n('en').percent(0.125)).toBe('12.5%');
    expect(makeI18n('en').number(Number.NaN)).toBe('0');
  });
});

describe('flowName', () => {
  it('translates the default names by flow key', () => {
    expect(makeI18n('fr').flowName('cart_abandonment', 'Cart abandonment')).toBe('Panier abandonné');
    expect(makeI18n('fr').flowName('post_quiz')).toBe('Bienvenue après le quiz');
    expect(makeI18n('en').flowName('reengagement', 'Re-engagement')).toBe('Re-engagement');
  });
  it('keeps a name the merchant chose, and an unknown flow as it is', () => {
    expect(makeI18n('fr').flowName('welcome', 'Bonjour les nouveaux')).toBe('Bonjour les nouveaux');
    expect(makeI18n('fr').flowName('custom_flow', 'Mine')).toBe('Mine');
    expect(makeI18n('fr').flowName('custom_flow')).toBe('custom_flow');
  });
});
