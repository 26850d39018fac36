import { useState } from 'react';
import { BlockStack, Box, Button, Card, Divider, InlineStack, Page, Text } from '@shopify/polaris';

import { api, ApiError, type OutboxMessage, type Page as ApiPage } from '../api';
import { AsyncView, EmptyCard, ErrorBanner, messageOf, useAsync } from '../components/async';
import { PreviewFrame } from '../components/PreviewFrame';
import { useI18n } from '../i18n';
import { AppLink, navigate } from '../router';

const PAGE_SIZE = 25;

/** notDevStore tells whether the outbox answered 404: it only exists on the dev store. */
function notDevStore(state: { kind: string; message?: string }, err: unknown): boolean {
  return state.kind === 'error' && err instanceof ApiError && err.status === 404;
}

export function OutboxPage() {
  const i = useI18n();
  const { t } = i;
  const [lastErr, setLastErr] = useState<unknown>(null);
  const [state, reload, setData] = useAsync(
    () =>
      api.listOutbox({ limit: PAGE_SIZE }).catch((e: unknown) => {
        setLastErr(e);
        throw e;
      }),
    [],
  );
  const [more, setMore] = useState<{ busy: boolean; error: string | null }>({ busy: false, error: null });

  async function loadMore(page: ApiPage<OutboxMessage>) {
    setMore({ busy: true, error: null });
    try {
      const next = await api.listOutbox({ limit: PAGE_SIZE, cursor: page.next_cursor });
      setData({ items: [...page.items, ...next.items], next_cursor: next.next_cursor });
      setMore({ busy: false, error: null });
    } catch (e) {
      setMore({ busy: false, error: messageOf(e, t('error.generic')) });
    }
  }

  if (notDevStore(state, lastErr)) {
    return (
      <Page title={t('outbox.title')}>
        <EmptyCard heading={t('outbox.devOnly')}>{t('outbox.devOnlyHelp')}</EmptyCard>
      </Page>
    );
  }

  return (
    <Page title={t('outbox.title')} subtitle={t('outbox.subtitle')} secondaryActions={[{ content: t('action.refresh'), onAction: reload }]}>
      <AsyncView state={state} onRetry={reload} lines={8}>
        {(page) =>
          page.items.length === 0 ? (
            <EmptyCard heading={t('outbox.empty')}>{t('outbox.emptyHelp')}</EmptyCard>
          ) : (
            <BlockStack gap="300">
              <Card padding="0">
                <ul className="relance-list" data-testid="outbox-list">
                  {page.items.map((m, idx) => (
                    <li key={String(m.id)}>
                      {idx > 0 && <Divider />}
                      <Box padding="400">
                        <BlockStack gap="100">
                          <AppLink url={`/outbox/${encodeURIComponent(String(m.id))}`} className="relance-link">
                            {m.subject || t('outbox.noSubject')}
                          </AppLink>
                          <Text as="p" tone="subdued" variant="bodySm">
                            {t('outbox.toAt', { to: m.to, at: i.dateTime(m.at) })}
                          </Text>
                        </BlockStack>
                      </Box>
                    </li>
                  ))}
                </ul>
              </Card>
              {more.error && <ErrorBanner message={more.error} onRetry={() => loadMore(page)} />}
              {page.next_cursor && (
                <InlineStack align="center">
                  <Button onClick={() => loadMore(page)} loading={more.busy}>
                    {t('action.loadMore')}
                  </Button>
                </InlineStack>
              )}
            </BlockStack>
          )
        }
      </AsyncView>
    </Page>
  );
}

export function OutboxMessagePage({ id }: { id: string }) {
  const i = useI18n();
  const { t } = i;
  const [state, reload] = useAsync(() => api.getOutboxMessage(id), [id]);
  const [showText, setShowText] = useState(false);
  return (
    <Page
      title={state.kind === 'ready' ? state.data.subject || t('outbox.noSubject') : t('outbox.message')}
      backAction={{ content: t('outbox.title'), onAction: () => navigate('/outbox') }}
    >
      <AsyncView state={state} onRetry={reload} lines={8}>
        {(m) => (
          <Card>
            <BlockStack gap="300">
              <Text as="p" tone="subdued">
                {t('outbox.toAt', { to: m.to, at: i.dateTime(m.at) })}
              </Text>
              <InlineStack>
                <Button variant="plain" onClick={() => setShowText((x) => !x)}>
                  {showText ? t('outbox.showHtml') : t('outbox.showText')}
                </Button>
              </InlineStack>
              {showText ? <pre className="relance-pre">{m.text}</pre> : <PreviewFrame html={m.html} title={m.subject} />}
            </BlockStack>
          </Card>
        )}
      </AsyncView>
    </Page>
  );
}
