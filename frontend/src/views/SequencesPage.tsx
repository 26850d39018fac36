import { useState } from 'react';
import { Badge, BlockStack, Card, InlineStack, Page, Text, Box, Divider } from '@shopify/polaris';

import { api, type FlowSummary } from '../api';
import { AsyncView, EmptyCard, ErrorBanner, messageOf, useAsync } from '../components/async';
import { Switch } from '../components/Switch';
import { useI18n } from '../i18n';
import { AppLink } from '../router';

export function SequencesPage() {
  const { t, flowName } = useI18n();
  const [state, reload, setFlows] = useAsync(() => api.listFlows(), []);
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  async function toggle(flows: FlowSummary[], f: FlowSummary, enabled: boolean) {
    setBusy(f.key);
    setError(null);
    try {
      await api.setFlowEnabled(f.key, enabled);
      setFlows(flows.map((x) => (x.key === f.key ? { ...x, enabled } : x)));
    } catch (err) {
      setError(messageOf(err, t('error.generic')));
    } finally {
      setBusy(null);
    }
  }

  return (
    <Page title={t('sequences.title')} subtitle={t('sequences.subtitle')}>
      <BlockStack gap="400">
        {error && <ErrorBanner message={error} />}
        <AsyncView state={state} onRetry={reload} lines={9}>
          {(flows) =>
            flows.length === 0 ? (
              <EmptyCard heading={t('sequences.empty')} />
            ) : (
              <Card padding="0">
                <ul className="relance-list" aria-label={t('sequences.title')}>
                  {flows.map((f, idx) => (
                    <li key={f.key} data-flow={f.key}>
                      {idx > 0 && <Divider />}
                      <Box padding="400">
                        <InlineStack align="space-between" blockAlign="center" gap="300" wrap={false}>
                          <BlockStack gap="100">
                            <InlineStack gap="200" blockAlign="center">
                              <Text as="h2" variant="headingSm">
                                <AppLink url={`/sequences/${encodeURIComponent(f.key)}`} className="relance-link">
                                  {flowName(f.key, f.name)}
                                </AppLink>
                              </Text>
                              <Badge tone={f.enabled ? 'success' : undefined}>
                                {f.enabled ? t('sequences.on') : t('sequences.off')}
                              </Badge>
                              <Text as="span" tone="subdued" variant="bodySm">
                                {t('sequences.version', { v: f.version })}
                              </Text>
                            </InlineStack>
                            <Text as="p" tone="subdued" variant="bodySm">
                              {t('sequences.numbers', { waiting: f.waiting, sent: f.sent_30d, skipped: f.skipped_30d })}
                            </Text>
                          </BlockStack>
                          <Switch
                            checked={f.enabled}
                            disabled={busy === f.key}
                            label={t('sequences.toggle', { name: flowName(f.key, f.name) })}
                            onChange={(next) => toggle(flows, f, next)}
                          />
                        </InlineStack>
                      </Box>
                    </li>
                  ))}
                </ul>
              </Card>
            )
          }
        </AsyncView>
      </BlockStack>
    </Page>
  );
}
