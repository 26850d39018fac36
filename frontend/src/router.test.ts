import { describe, expect, it } from 'vitest';

import { hrefFor, matchRoute } from './router';

describe('matchRoute', () => {
  it.each([
    ['/', { page: 'home' }],
    ['', { page: 'home' }],
    ['/sequences', { page: 'sequences' }],
    ['/sequences/', { page: 'sequences' }],
    ['/sequences/checkout_abandonment', { page: 'sequence', key: 'checkout_abandonment' }],
    ['/activity', { page: 'activity' }],
    ['/activity/c%2F1', { page: 'contact', id: 'c/1' }],
    ['/settings', { page: 'settings' }],
    ['/quiz', { page: 'quiz' }],
    ['/quiz/x', { page: 'notFound' }],
    ['/outbox', { page: 'outbox' }],
    ['/outbox/42', { page: 'outboxMessage', id: '42' }],
    ['/nope', { page: 'notFound' }],
    ['/sequences/a/b', { page: 'notFound' }],
  ])('%s', (path, want) => {
    expect(matchRoute(path)).toEqual(want);
  });
});

describe('hrefFor', () => {
  it('keeps the shop, host and locale of the current URL', () => {
    expect(hrefFor('/settings', '?shop=a.myshopify.com&host=abc&id_token=secret&locale=fr')).toBe(
      '/settings?shop=a.myshopify.com&host=abc&locale=fr',
    );
  });
  it('lets the target set its own parameters', () => {
    expect(hrefFor('/activity?q=x&shop=b.myshopify.com', '?shop=a.myshopify.com')).toBe('/activity?q=x&shop=b.myshopify.com');
  });
  it('adds nothing when there is nothing to keep', () => {
    expect(hrefFor('/outbox', '')).toBe('/outbox');
  });
});
