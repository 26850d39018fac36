import type { ReactNode } from 'react';
import { BlockStack, Box, Card, Checkbox, FormLayout, InlineStack, Page, Select, Text, TextField } from '@shopify/polaris';

import { api, type Settings } from '../api';
import { AsyncView, useAsync } from '../components/async';
import { ProductLifeCard } from '../components/ProductLifeCard';
import { SendingDomainCard } from '../components/SendingDomainCard';
import { NoticeBanner } from '../components/NoticeBanner';
import { useI18n } from '../i18n';
import { errorUnder, useSaveForm } from '../useSaveForm';

export function SettingsPage() {
  const { t } = useI18n();
  const [state, reload] = useAsync(() => api.getSettings(), []);
  if (state.kind === 'ready')
    return (
      <SettingsForm initial={state.data}>
        <SendingDomainCard />
      </SettingsForm>
    );
  return (
    <Page title={t('settings.title')}>
      <AsyncView state={state} onRetry={reload} lines={12}>
        {() => null}
      </AsyncView>
    </Page>
  );
}

const TIMEZONES: string[] = (() => {
  try {
    return (Intl as unknown as { supportedValuesOf?: (k: string) => string[] }).supportedValuesOf?.('timeZone') ?? [];
  } catch {
    return [];
  }
})();

type NumberField = 'frequency_cap_hours' | 'replenishment_days' | 'disengaged_days' | 'dormant_days';

/** SettingsForm edits the settings; the per-product replenishment overrides and children (the sending-domain card) follow the form, outside it. */
export function SettingsForm({ initial, children }: { initial: Settings; children?: ReactNode }) {
  const { t } = useI18n();
  const { value: s, update, fields, notice, setNotice, saving, dirty, save } = useSaveForm<Settings>(initial, {
    save: (v) => api.saveSettings(v),
    savedText: t('settings.saved'),
    invalidText: t('editor.invalid'),
    genericText: t('error.generic'),
  });

  function set<K extends keyof Settings>(k: K, v: Settings[K], errKey: string = k) {
    update((x) => ({ ...x, [k]: v }), errKey);
  }

  const err = (k: string) => errorUnder(fields, k);
  const num = (k: NumberField, label: string, help?: string) => (
    <TextField
      label={label}
      type="number"
      min={0}
      value={String(s[k] ?? '')}
      onChange={(v) => set(k, v === '' ? 0 : Math.max(0, Math.floor(Number(v) || 0)))}
      helpText={help}
      error={err(k)}
      autoComplete="off"
    />
  );

  const tzOptions = TIMEZONES.includes(s.timezone) || !s.timezone ? TIMEZONES : [s.timezone, ...TIMEZONES];

  return (
    <Page
      title={t('settings.title')}
      primaryAction={{ content: t('action.save'), onAction: save, loading: saving, disabled: !dirty }}
    >
      <form
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
      >
        <BlockStack gap="400">
          {notice && <NoticeBanner notice={notice} onDismiss={() => setNotice(null)} />}
          <Card>
            <FormLayout>
              <Text as="h2" variant="headingMd">
                {t('settings.sender')}
              </Text>
              <FormLayout.Group>
                <TextField label={t('settings.senderName')} value={s.sender_name} onChange={(v) => set('sender_name', v)} error={err('sender_name')} autoComplete="organization" />
                <TextField label={t('settings.ownerFirstName')} value={s.owner_first_name} onChange={(v) => set('owner_first_name', v)} error={err('owner_first_name')} helpText={t('settings.ownerFirstNameHelp')} autoComplete="given-name" />
              </FormLayout.Group>
              <TextField label={t('settings.replyTo')} type="email" value={s.reply_to} onChange={(v) => set('reply_to', v)} error={err('reply_to')} helpText={t('settings.replyToHelp')} autoComplete="email" />
              <TextField label={t('settings.postalAddress')} value={s.postal_address} onChange={(v) => set('postal_address', v)} error={err('postal_address')} helpText={t('settings.postalAddressHelp')} multiline={3} autoComplete="street-address" />
            </FormLayout>
          </Card>
          <Card>
            <FormLayout>
              <Text as="h2" variant="headingMd">
                {t('settings.sending')}
              </Text>
              <Select
                label={t('settings.timezone')}
                options={tzOptions.length > 0 ? tzOptions : [s.timezone]}
                value={s.timezone}
                onChange={(v) => set('timezone', v)}
                error={err('timezone')}
              />
              <Checkbox
                label={t('settings.quietHours')}
                helpText={t('settings.quietHoursHelp')}
                checked={s.quiet_hours !== null}
                onChange={(c) => set('quiet_hours', c ? { start: '21:00', end: '08:00' } : null)}
              />
              {s.quiet_hours && (
                <FormLayout.Group condensed>
                  <TextField label={t('settings.quietStart')} type="time" value={s.quiet_hours.start} onChange={(v) => set('quiet_hours', { ...s.quiet_hours!, start: v }, 'quiet_hours.start')} error={err('quiet_hours.start') ?? err('quiet_hours')} autoComplete="off" />
                  <TextField label={t('settings.quietEnd')} type="time" value={s.quiet_hours.end} onChange={(v) => set('quiet_hours', { ...s.quiet_hours!, end: v }, 'quiet_hours.end')} error={err('quiet_hours.end')} autoComplete="off" />
                </FormLayout.Group>
              )}
              {num('frequency_cap_hours', t('settings.frequencyCap'), t('settings.frequencyCapHelp'))}
              <Checkbox
                label={t('settings.withoutConsent')}
                helpText={t('settings.withoutConsentHelp')}
                checked={s.reminders_without_consent}
                onChange={(c) => set('reminders_without_consent', c)}
                error={err('reminders_without_consent')}
              />
              <Select
                label={t('settings.defaultLocale')}
                options={[
                  { label: 'English', value: 'en' },
                  { label: 'Français', value: 'fr' },
                ]}
                value={s.default_locale}
                onChange={(v) => set('default_locale', v === 'fr' ? 'fr' : 'en')}
                error={err('default_locale')}
              />
            </FormLayout>
          </Card>
          <Card>
            <FormLayout>
              <Text as="h2" variant="headingMd">
                {t('settings.timing')}
              </Text>
              <FormLayout.Group>
                {num('replenishment_days', t('settings.replenishment'), t('settings.replenishmentHelp'))}
                {num('disengaged_days', t('settings.disengaged'), t('settings.disengagedHelp'))}
                {num('dormant_days', t('settings.dormant'), t('settings.dormantHelp'))}
              </FormLayout.Group>
            </FormLayout>
          </Card>
          <InlineStack align="end">
            <button type="submit" className="relance-visually-hidden" tabIndex={-1} aria-hidden="true" />
          </InlineStack>
        </BlockStack>
      </form>
      <Box paddingBlockStart="400">
        <ProductLifeCard defaultDays={s.replenishment_days} />
      </Box>
      {children && <Box paddingBlockStart="400">{children}</Box>}
    </Page>
  );
}
