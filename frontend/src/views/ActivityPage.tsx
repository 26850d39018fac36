import { useEffect, useState } from 'react';
import { Badge, BlockStack, Box, Button, Card, Divider, InlineStack, Page, Text, TextField } from '@shopify/polaris';

import { api, type ActivityItem, type Page as ApiPage } from '../api';
import { AsyncView, EmptyCard, ErrorBanner, messageOf, useAsync } from '../components/async';
import { useI18n } from '../i18n';
import { AppLink, navigate } from '../router';

const PAGE_SIZE = 25;

export function decisionTone(decision: string): 'success' | 'warning' | 'critical' | 'info' | undefined {
  switch (decision) {
    case 'sent':
      return 'success';
    case 'skipped':
      return 'warning';
    case 'failed':
    case 'bounced':
      return 'critical';
    default:
      return 'info';
  }
}

export function ActivityList({ items, showEmail = true }: { items: ActivityItem[]; showEmail?: boolean }) {
  const i = useI18n();
  return (
    <ul className="relance-list" data-testid="activity-list">
      {items.map((a, idx) => (
        <li key={String(a.id)}>
          {idx > 0 && <Divider />}
          <Box padding="400">
            <BlockStack gap="100">
              <InlineStack gap="200" blockAlign="center" wrap>
                <Badge tone={decisionTone(a.decision)}>{i.maybe(`decision.${a.decision}`) ?? a.decision}</Badge>
                {showEmail && a.contact_id ? (
                  <AppLink url={`/activity/${encodeURIComponent(String(a.contact_id))}`} className="relance-link">
                    {a.email || String(a.contact_id)}
                  </AppLink>
                ) : showEmail ? (
                  <Text as="span">{a.email}</Text>
                ) : null}
                <Text as="span" tone="subdued" variant="bodySm">
                  {i.dateTime(a.at)}
                </Text>
              </InlineStack>
              <Text as="p" variant="bodySm">
                {i.t('activity.where', { flow: i.flowName(a.flow), step: a.step })}
                {a.reason ? ` — ${a.reason}` : ''}
              </Text>
            </BlockStack>
          </Box>
        </li>
      ))}
    </ul>
  );
}

export function ActivityPage() {
  const { t } = useI18n();
  const [query, setQuery] = useState(() => new URLSearchParams(window.location.search).get('q') ?? '');
  const [applied, setApplied] = useState(query);
  const [state, reload, setData] = useAsync(() => api.listActivity({ q: applied, limit: PAGE_SIZE }), [applied]);
  const [more, setMore] = useState<{ busy: boolean; error: string | null }>({ busy: false, error: null });

  // Search as the merchant types, once they pause.
  useEffect(() => {
    const h = setTimeout(() => setApplied(query.trim()), 300);
    return () => clearTimeout(h);
  }, [query]);

  async function loadMore(page: ApiPage<ActivityItem>) {
    if (!page.next_cursor) return;
    setMore({ busy: true, error: null });
    try {
      const next = await api.listActivity({ q: applied, limit: PAGE_SIZE, cursor: page.next_cursor });
      setData({ items: [...page.items, ...next.items], next_cursor: next.next_cursor });
      setMore({ busy: false, error: null });
    } catch (err) {
      setMore({ busy: false, error: messageOf(err, t('error.generic')) });
    }
  }

  return (
    <Page title={t('activity.title')} subtitle={t('activity.subtitle')}>
      <BlockStack gap="400">
        <Card>
          <form
            role="search"
            onSubmit={(e) => {
              e.preventDefault();
              setApplied(query.trim());
            }}
          >
            <TextField
              label={t('activity.search')}
              labelHidden
              placeholder={t('activity.searchPlaceholder')}
              type="search"
              value={query}
              onChange={setQuery}
              clearButton
              onClearButtonClick={() => setQuery('')}
              autoComplete="off"
            />
          </form>
        </Card>
        <AsyncView state={state} onRetry={reload} lines={8}>
          {(page) =>
            page.items.length === 0 ? (
              <EmptyCard heading={applied ? t('activity.noMatch', { q: applied }) : t('activity.empty')}>{t('activity.emptyHelp')}</EmptyCard>
            ) : (
              <BlockStack gap="300">
                <Card padding="0">
                  <ActivityList items={page.items} />
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
      </BlockStack>
    </Page>
  );
}

export function ContactPage({ id }: { id: string }) {
  const { t } = useI18n();
  const [state, reload] = useAsync(() => api.getContactTimeline(id), [id]);
  const email = state.kind === 'ready' && typeof state.data.contact.email === 'string' ? state.data.contact.email : id;
  return (
    <Page title={email} subtitle={t('contact.subtitle')} backAction={{ content: t('activity.title'), onAction: () => navigate('/activity') }}>
      <AsyncView state={state} onRetry={reload} lines={6}>
        {(tl) => (
          <BlockStack gap="400">
            <Card>
              <BlockStack gap="200">
                <Text as="h2" variant="headingMd">
                  {t('contact.details')}
                </Text>
                <dl className="relance-dl">
                  {Object.entries(tl.contact)
                    .filter(([, v]) => v !== null && v !== undefined && typeof v !== 'object')
                    .map(([k, v]) => (
                      <div key={k}>
                        <dt>{k.replace(/_/g, ' ')}</dt>
                        <dd>{String(v)}</dd>
                      </div>
                    ))}
                </dl>
              </BlockStack>
            </Card>
            {tl.items.length === 0 ? (
              <EmptyCard heading={t('contact.empty')} />
            ) : (
              <Card padding="0">
                <Box padding="400" paddingBlockEnd="0">
                  <Text as="h2" variant="headingMd">
                    {t('contact.timeline')}
                  </Text>
                </Box>
                <ActivityList items={tl.items} showEmail={false} />
              </Card>
            )}
          </BlockStack>
        )}
      </AsyncView>
    </Page>
  );
}
