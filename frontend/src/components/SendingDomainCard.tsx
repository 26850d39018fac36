// Settings' "Sending domain" card: the address emails go out from, the
// shop's own domain with its status and the DNS records to publish, and the
// Add domain / Verify actions (GET/POST /api/sending-domain, POST …/verify).
import { useState } from 'react';
import { Badge, Banner, BlockStack, Button, Card, InlineStack, Text, TextField } from '@shopify/polaris';

import { api, ApiError, type SendingDomainState } from '../api';
import { ErrorBanner, LoadingCard, messageOf, useAsync } from './async';
import { useI18n } from '../i18n';

type Notice = { tone: 'success' | 'critical' | 'warning'; title?: string; text: string };

const STATUS_TONE: Record<string, 'success' | 'attention' | 'critical' | 'info'> = {
  verified: 'success',
  pending: 'attention',
  not_started: 'info',
  failed: 'critical',
};

export function SendingDomainCard() {
  const [state, reload, set] = useAsync(() => api.getSendingDomain(), []);
  if (state.kind === 'loading') return <LoadingCard lines={3} />;
  if (state.kind === 'error') return <ErrorBanner message={state.message} onRetry={reload} />;
  return <SendingDomainView state={state.data} onChange={set} />;
}

export function SendingDomainView({ state, onChange }: { state: SendingDomainState; onChange: (s: SendingDomainState) => void }) {
  const { t, maybe, dateTime } = useI18n();
  const [domain, setDomain] = useState('');
  const [fieldError, setFieldError] = useState<string | undefined>();
  const [notice, setNotice] = useState<Notice | null>(null);
  const [busy, setBusy] = useState<'add' | 'verify' | null>(null);
  const d = state.domain;

  /** failure turns an error into the notice: a 409 is an explanation, not a crash. */
  function failure(err: unknown) {
    if (err instanceof ApiError && err.status === 422 && err.fields.domain) {
      setFieldError(err.fields.domain);
      return;
    }
    if (err instanceof ApiError && err.status === 409) {
      const needsResend = /resend/i.test(err.message);
      setNotice({
        tone: 'warning',
        title: needsResend ? t('domain.unavailable') : undefined,
        text: needsResend ? `${err.message}. ${t('domain.unavailableHelp')}` : err.message,
      });
      return;
    }
    setNotice({ tone: 'critical', text: messageOf(err, t('error.generic')) });
  }

  async function add() {
    setBusy('add');
    setNotice(null);
    setFieldError(undefined);
    try {
      const next = await api.addSendingDomain(domain);
      onChange(next);
      setDomain('');
      setNotice({ tone: 'success', text: t('domain.added') });
    } catch (err) {
      failure(err);
    } finally {
      setBusy(null);
    }
  }

  async function verify() {
    setBusy('verify');
    setNotice(null);
    try {
      const next = await api.verifySendingDomain();
      onChange(next);
      const status = next.domain?.status ?? '';
      setNotice({ tone: next.domain?.verified ? 'success' : 'warning', text: t('domain.checked', { status: maybe(`domain.status.${status}`) ?? status }) });
    } catch (err) {
      failure(err);
    } finally {
      setBusy(null);
    }
  }

  const statusLabel = d ? (maybe(`domain.status.${d.status}`) ?? d.status) : '';

  return (
    <Card>
      <BlockStack gap="400">
        <BlockStack gap="100">
          <Text as="h2" variant="headingMd">
            {t('domain.title')}
          </Text>
          <Text as="p">
            <span data-testid="domain-from">{t('domain.from', { from: state.from_email })}</span>
          </Text>
        </BlockStack>
        {notice && (
          <div role={notice.tone === 'success' ? 'status' : 'alert'} data-testid="domain-notice">
            <Banner tone={notice.tone} title={notice.title} onDismiss={() => setNotice(null)}>
              <p>{notice.text}</p>
            </Banner>
          </div>
        )}
        {d ? (
          <BlockStack gap="300">
            <InlineStack gap="200" blockAlign="center" wrap>
              <Text as="span" fontWeight="semibold" breakWord>
                {d.name}
              </Text>
              <span data-testid="domain-status">
                <Badge tone={STATUS_TONE[d.status] ?? 'info'}>{statusLabel}</Badge>
              </span>
            </InlineStack>
            {d.checked_at && (
              <Text as="p" tone="subdued" variant="bodySm">
                {t('domain.checkedAt', { at: dateTime(d.checked_at) })}
              </Text>
            )}
            {!d.verified && (
              <BlockStack gap="200">
                <Text as="h3" variant="headingSm">
                  {t('domain.records')}
                </Text>
                <Text as="p" tone="subdued">
                  {t('domain.recordsHelp', { domain: d.name })}
                </Text>
              </BlockStack>
            )}
            {d.records.length === 0 ? (
              <Text as="p" tone="subdued">
                {t('domain.noRecords')}
              </Text>
            ) : (
              <table className="relance-dns-table" data-testid="dns-records">
                <caption className="relance-visually-hidden">{t('domain.records')}</caption>
                <thead>
                  <tr>
                    <th scope="col" className="relance-dns-type">
                      {t('domain.type')}
                    </th>
                    <th scope="col">{t('domain.name')}</th>
                    <th scope="col">{t('domain.value')}</th>
                    <th scope="col" className="relance-dns-priority">
                      {t('domain.priority')}
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {d.records.map((r, i) => (
                    <tr key={`${r.type}-${r.name}-${i}`}>
                      <td data-label={t('domain.type')}>{r.type}</td>
                      <td data-label={t('domain.name')}>
                        <code>{r.name}</code>
                      </td>
                      <td data-label={t('domain.value')}>
                        <code>{r.value}</code>
                      </td>
                      <td data-label={t('domain.priority')}>{r.priority ?? '—'}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
            <InlineStack>
              <Button onClick={verify} loading={busy === 'verify'} disabled={busy !== null}>
                {t('domain.verify')}
              </Button>
            </InlineStack>
          </BlockStack>
        ) : (
          <form
            onSubmit={(e) => {
              e.preventDefault();
              if (busy === null) void add();
            }}
          >
            <BlockStack gap="300">
              <Text as="p" tone="subdued">
                {t('domain.none')}
              </Text>
              {!state.available && !notice && (
                <Text as="p" tone="subdued">
                  {t('domain.unavailableHelp')}
                </Text>
              )}
              <TextField
                label={t('domain.field')}
                value={domain}
                onChange={(v) => {
                  setDomain(v);
                  setFieldError(undefined);
                }}
                placeholder="mail.myshop.com"
                helpText={t('domain.fieldHelp')}
                error={fieldError}
                autoComplete="off"
              />
              <InlineStack>
                <Button submit variant="primary" loading={busy === 'add'} disabled={busy !== null}>
                  {t('domain.add')}
                </Button>
              </InlineStack>
            </BlockStack>
          </form>
        )}
      </BlockStack>
    </Card>
  );
}
