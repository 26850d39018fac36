// Per-product replenishment overrides: products that run out sooner or later
// than the shop's default (GET/PUT/DELETE /api/replenishment/products).
import { useState } from 'react';
import { BlockStack, Box, Button, Card, Divider, InlineStack, Text, TextField } from '@shopify/polaris';

import { api, ApiError, type Page as ListPage, type ProductLife } from '../api';
import { parseProductId } from '../discountEdit';
import { useI18n } from '../i18n';
import { NoticeBanner, type Notice } from './NoticeBanner';
import { AsyncView, messageOf, useAsync } from './async';

/** mergeProduct puts a saved override in the list, in product id order. */
export function mergeProduct(items: ProductLife[], p: ProductLife): ProductLife[] {
  return [...items.filter((x) => x.product_id !== p.product_id), p].sort((a, b) => a.product_id - b.product_id);
}

export function ProductLifeCard({ defaultDays }: { defaultDays: number }) {
  const { t } = useI18n();
  const [state, reload, setList] = useAsync(() => api.listProductLives(), []);
  return (
    <Card>
      <BlockStack gap="300">
        <Text as="h2" variant="headingMd">
          {t('products.title')}
        </Text>
        <Text as="p" tone="subdued">
          {t('products.help', { days: defaultDays })}
        </Text>
        <AsyncView state={state} onRetry={reload} lines={3}>
          {(page) => <ProductLives page={page} onChange={setList} />}
        </AsyncView>
      </BlockStack>
    </Card>
  );
}

function ProductLives({ page, onChange }: { page: ListPage<ProductLife>; onChange: (p: ListPage<ProductLife>) => void }) {
  const { t } = useI18n();
  const [product, setProduct] = useState('');
  const [days, setDays] = useState('');
  const [fields, setFields] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState<string | null>(null);
  const [notice, setNotice] = useState<Notice | null>(null);
  const name = (p: Pick<ProductLife, 'product_id' | 'title'>) => p.title || t('products.unknownTitle', { id: p.product_id });

  /** run does fn with its button busy; the text it resolves to (if any) is the success notice. */
  async function run(key: string, fn: () => Promise<string | null>) {
    setBusy(key);
    setNotice(null);
    try {
      const text = await fn();
      if (text) setNotice({ tone: 'success', text });
    } catch (err) {
      if (err instanceof ApiError && err.status === 422) setFields(err.fields);
      setNotice({ tone: 'critical', text: messageOf(err, t('error.generic')) });
    } finally {
      setBusy(null);
    }
  }

  function set() {
    const id = parseProductId(product);
    if (id === null) {
      setFields({ product_id: t('products.badId') });
      return;
    }
    void run('set', async () => {
      const saved = await api.setProductLife(id, Math.floor(Number(days) || 0));
      onChange({ ...page, items: mergeProduct(page.items, saved) });
      setProduct('');
      setDays('');
      setFields({});
      return t('products.saved', { product: name(saved), days: saved.days });
    });
  }

  function remove(p: ProductLife) {
    void run(`rm-${p.product_id}`, async () => {
      await api.deleteProductLife(p.product_id);
      onChange({ ...page, items: page.items.filter((x) => x.product_id !== p.product_id) });
      return t('products.removed', { product: name(p) });
    });
  }

  function more() {
    void run('more', async () => {
      const next = await api.listProductLives({ cursor: page.next_cursor });
      onChange({ items: [...page.items, ...next.items], next_cursor: next.next_cursor });
      return null;
    });
  }

  return (
    <BlockStack gap="300">
      {notice && <NoticeBanner notice={notice} onDismiss={() => setNotice(null)} />}
      {page.items.length === 0 ? (
        <Text as="p" tone="subdued">
          {t('products.empty')}
        </Text>
      ) : (
        <ul className="relance-list" aria-label={t('products.title')} data-testid="product-lives">
          {page.items.map((p, i) => (
            <li key={p.product_id}>
              {i > 0 && <Divider />}
              <Box paddingBlock="200">
                <InlineStack align="space-between" blockAlign="center" gap="200">
                  <BlockStack gap="050">
                    <Text as="span" fontWeight="semibold" breakWord>
                      {name(p)}
                    </Text>
                    <Text as="span" tone="subdued" variant="bodySm">
                      {p.title ? `#${p.product_id} · ` : ''}
                      {t('products.row', { days: p.days })}
                    </Text>
                  </BlockStack>
                  <InlineStack gap="200">
                    <Button
                      variant="plain"
                      onClick={() => {
                        setProduct(String(p.product_id));
                        setDays(String(p.days));
                        setFields({});
                      }}
                      accessibilityLabel={t('products.edit', { product: name(p) })}
                    >
                      {t('action.edit')}
                    </Button>
                    <Button
                      variant="plain"
                      tone="critical"
                      loading={busy === `rm-${p.product_id}`}
                      onClick={() => remove(p)}
                      accessibilityLabel={t('products.remove', { product: name(p) })}
                    >
                      {t('action.remove')}
                    </Button>
                  </InlineStack>
                </InlineStack>
              </Box>
            </li>
          ))}
        </ul>
      )}
      {page.next_cursor && (
        <InlineStack>
          <Button onClick={more} loading={busy === 'more'}>
            {t('action.loadMore')}
          </Button>
        </InlineStack>
      )}
      <form
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          set();
        }}
      >
        <InlineStack gap="200" blockAlign="start" wrap>
          <div className="relance-grow">
            <TextField
              label={t('products.product')}
              value={product}
              onChange={(v) => {
                setProduct(v);
                setFields((f) => ({ ...f, product_id: '' }));
              }}
              helpText={t('products.productHelp')}
              autoComplete="off"
              error={fields.product_id || undefined}
            />
          </div>
          <div className="relance-narrow">
            <TextField
              label={t('products.days')}
              type="number"
              min={1}
              max={3650}
              value={days}
              onChange={(v) => {
                setDays(v);
                setFields((f) => ({ ...f, days: '' }));
              }}
              autoComplete="off"
              error={fields.days || undefined}
            />
          </div>
          <div className="relance-form-button">
            <Button submit loading={busy === 'set'} disabled={product.trim() === '' || days.trim() === ''}>
              {t('products.set')}
            </Button>
          </div>
        </InlineStack>
      </form>
    </BlockStack>
  );
}
