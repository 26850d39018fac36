import { useState } from 'react';
import { BlockStack, Box, Button, ButtonGroup, Card, Icon, InlineGrid, InlineStack, Layout, Page, Text } from '@shopify/polaris';
import { CheckCircleIcon, AlertCircleIcon } from '@shopify/polaris-icons';

import { api, type Metrics, type MetricsDays } from '../api';
import { AsyncView, useAsync } from '../components/async';
import { BarChart } from '../components/BarChart';
import { useI18n, type I18n } from '../i18n';

const PERIODS: MetricsDays[] = [7, 30, 90];

export function HomePage() {
  const { t } = useI18n();
  const [days, setDays] = useState<MetricsDays>(30);
  const [metrics, reloadMetrics] = useAsync(() => api.getMetrics(days), [days]);

  return (
    <Page title={t('home.title')}>
      <Layout>
        <Layout.Section>
          <BlockStack gap="400">
            <InlineStack align="space-between" blockAlign="center" gap="200" wrap>
              <Text as="h2" variant="headingMd">
                {t('home.performance')}
              </Text>
              <ButtonGroup variant="segmented">
                {PERIODS.map((d) => (
                  <Button key={d} pressed={d === days} onClick={() => setDays(d)}>
                    {t('home.lastDays', { days: d })}
                  </Button>
                ))}
              </ButtonGroup>
            </InlineStack>
            <AsyncView state={metrics} onRetry={reloadMetrics} lines={6}>
              {(m) => <MetricsView m={m} />}
            </AsyncView>
          </BlockStack>
        </Layout.Section>
        <Layout.Section variant="oneThird">
          <SetupChecklist />
        </Layout.Section>
      </Layout>
    </Page>
  );
}

export function kpis(m: Metrics, i: I18n): { label: string; value: string; help?: string }[] {
  return [
    { label: i.t('kpi.revenue'), value: i.money(m.revenue, m.currency) },
    { label: i.t('kpi.recoveredOrders'), value: i.number(m.recovered_orders) },
    { label: i.t('kpi.recoveryRate'), value: i.percent(m.recovery_rate), help: i.t('kpi.recoveryRateHelp') },
    { label: i.t('kpi.sent'), value: i.number(m.sent) },
    { label: i.t('kpi.revenuePerEmail'), value: i.money(m.revenue_per_email, m.currency) },
    { label: i.t('kpi.conversionPerEmail'), value: i.percent(m.conversion_per_email) },
    {
      label: i.t('kpi.aov'),
      value: i.money(m.aov_recovered, m.currency),
      help: i.t('kpi.aovOverall', { value: i.money(m.aov_overall, m.currency) }),
    },
  ];
}

function MetricsView({ m }: { m: Metrics }) {
  const i = useI18n();
  const revenue = m.series.map((p) => ({ label: i.date(p.day), value: p.revenue }));
  const sent = m.series.map((p) => ({ label: i.date(p.day), value: p.sent }));
  return (
    <BlockStack gap="400">
      <InlineGrid columns={{ xs: 1, sm: 2, md: 2, lg: 4 }} gap="300">
        {kpis(m, i).map((k) => (
          <Card key={k.label}>
            <BlockStack gap="100">
              <Text as="h3" variant="bodySm" tone="subdued">
                {k.label}
              </Text>
              <Text as="p" variant="headingLg">
                {k.value}
              </Text>
              {k.help && (
                <Text as="p" variant="bodySm" tone="subdued">
                  {k.help}
                </Text>
              )}
            </BlockStack>
          </Card>
        ))}
      </InlineGrid>
      {m.sent === 0 && m.series.every((p) => p.sent === 0) && (
        <Card>
          <Text as="p" tone="subdued">
            {i.t('home.noData')}
          </Text>
        </Card>
      )}
      <Card>
        <BlockStack gap="200">
          <Text as="h3" variant="headingSm">
            {i.t('home.chartRevenue')}
          </Text>
          <BarChart title={i.t('home.chartRevenue')} data={revenue} format={(n) => i.money(n, m.currency)} />
        </BlockStack>
      </Card>
      <Card>
        <BlockStack gap="200">
          <Text as="h3" variant="headingSm">
            {i.t('home.chartSent')}
          </Text>
          <BarChart title={i.t('home.chartSent')} data={sent} format={(n) => i.number(n)} />
        </BlockStack>
      </Card>
    </BlockStack>
  );
}

function SetupChecklist() {
  const { t } = useI18n();
  const [state, reload] = useAsync(async () => {
    const [settings, flows] = await Promise.all([api.getSettings(), api.listFlows()]);
    return { settings, flows };
  }, []);
  return (
    <Card>
      <BlockStack gap="300">
        <Text as="h2" variant="headingMd">
          {t('setup.title')}
        </Text>
        <AsyncView state={state} onRetry={reload}>
          {({ settings, flows }) => {
            const items = [
              { done: settings.sender_name.trim() !== '' && settings.postal_address.trim() !== '', label: t('setup.sender'), url: '/settings' },
              { done: settings.reply_to.trim() !== '', label: t('setup.replyTo'), url: '/settings' },
              { done: flows.some((f) => f.enabled), label: t('setup.firstSequence'), url: '/sequences' },
            ];
            const left = items.filter((x) => !x.done).length;
            return (
              <BlockStack gap="200">
                <Text as="p" tone="subdued">
                  {left === 0 ? t('setup.allDone') : t('setup.left', { n: left })}
                </Text>
                <ul className="relance-checklist" aria-label={t('setup.title')}>
                  {items.map((x) => (
                    <li key={x.label}>
                      <InlineStack gap="200" blockAlign="center" wrap={false}>
                        <Box>
                          <Icon source={x.done ? CheckCircleIcon : AlertCircleIcon} tone={x.done ? 'success' : 'caution'} />
                        </Box>
                        <span className="relance-visually-hidden">{x.done ? t('setup.done') : t('setup.todo')}</span>
                        {x.done ? (
                          <Text as="span">{x.label}</Text>
                        ) : (
                          <Button variant="plain" url={x.url}>
                            {x.label}
                          </Button>
                        )}
                      </InlineStack>
                    </li>
                  ))}
                </ul>
              </BlockStack>
            );
          }}
        </AsyncView>
      </BlockStack>
    </Card>
  );
}
