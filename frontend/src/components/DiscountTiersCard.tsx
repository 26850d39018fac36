// The discount tiers by cart value of one offer step: a row per range of
// cart value (percentage, fixed amount or free shipping), the conditions of
// the codes, saved apart from the draft (PUT /api/flows/:key/steps/:step/discount).
import { useState } from 'react';
import { BlockStack, Box, Button, Card, Checkbox, FormLayout, InlineStack, Select, Text, TextField } from '@shopify/polaris';

import { api, type DiscountTable, type StepDiscount } from '../api';
import { addTier, DISCOUNT_KINDS, forWire, MAX_TIERS, removeTier, tierSummary, updateTier, withKind } from '../discountEdit';
import { useI18n } from '../i18n';
import { NoticeBanner } from './NoticeBanner';
import { errorUnder, useSaveForm } from '../useSaveForm';
import { AsyncView, messageOf, useAsync } from './async';

export function DiscountTiersCard({ flowKey, stepKey }: { flowKey: string; stepKey: string }) {
  const { t } = useI18n();
  const [state, reload, setData] = useAsync(() => api.getDiscount(flowKey, stepKey), [flowKey, stepKey]);
  return (
    <Card>
      <BlockStack gap="300">
        <Text as="h2" variant="headingMd">
          {t('discount.title')}
        </Text>
        <AsyncView state={state} onRetry={reload} lines={4}>
          {(d) => <TiersForm key={`${flowKey}/${stepKey}`} discount={d} onStored={setData} />}
        </AsyncView>
      </BlockStack>
    </Card>
  );
}

function TiersForm({ discount, onStored }: { discount: StepDiscount; onStored: (d: StepDiscount) => void }) {
  const i18n = useI18n();
  const { t } = i18n;
  const { currency } = discount;
  const [resetting, setResetting] = useState(false);
  const form = useSaveForm<DiscountTable>(discount.table, {
    save: async (table) => {
      const stored = await api.saveDiscount(discount.flow, discount.step, forWire(table));
      onStored(stored);
      return stored.table;
    },
    savedText: t('discount.saved'),
    invalidText: t('editor.invalid'),
    genericText: t('error.generic'),
  });
  const { value: table, update, fields, notice, setNotice, saving, dirty, save } = form;
  const id = (f: string) => `discount-${discount.step}-${f}`;
  const err = (f: string) => errorUnder(fields, f);

  async function reset() {
    setResetting(true);
    setNotice(null);
    try {
      onStored(await api.resetDiscount(discount.flow, discount.step));
      setNotice({ tone: 'success', text: t('discount.resetDone') });
    } catch (e) {
      setNotice({ tone: 'critical', text: messageOf(e, t('error.generic')) });
    } finally {
      setResetting(false);
    }
  }

  const amountField = (label: string, value: string, onChange: (v: string) => void, field: string, help?: string) => (
    <TextField
      id={id(field)}
      label={label}
      value={value}
      onChange={onChange}
      inputMode="decimal"
      suffix={currency}
      autoComplete="off"
      helpText={help}
      error={err(field)}
    />
  );

  return (
    <form
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        void save();
      }}
      aria-label={t('discount.title')}
    >
      <BlockStack gap="400">
        <Text as="p" tone="subdued">
          {t('discount.help')}
        </Text>
        {!discount.custom && !dirty && (
          <Text as="p" variant="bodySm">
            {t('discount.default')}
          </Text>
        )}
        {notice && <NoticeBanner notice={notice} onDismiss={() => setNotice(null)} />}
        {err('step') && (
          <Text as="p" tone="critical">
            {err('step')}
          </Text>
        )}
        {table.tiers.length === 0 && (
          <Text as="p" tone={fields.tiers ? 'critical' : 'subdued'}>
            {fields.tiers ?? t('discount.noTiers')}
          </Text>
        )}
        {table.tiers.length > 0 && fields.tiers && (
          <Text as="p" tone="critical">
            {fields.tiers}
          </Text>
        )}
        <ol className="relance-plain-list relance-tiers" data-testid="discount-tiers">
          {table.tiers.map((tier, i) => {
            const p = `tiers.${i}`;
            const set = (patch: Partial<typeof tier>, field: string) => update((x) => updateTier(x, i, patch), `${p}.${field}`);
            return (
              <li key={i}>
                <Box paddingBlock="300" borderBlockStartWidth={i > 0 ? '025' : undefined} borderColor="border">
                  <fieldset className="relance-fieldset">
                    <legend>
                      <Text as="span" variant="headingSm">
                        {t('discount.tierN', { n: i + 1 })}
                      </Text>{' '}
                      <Text as="span" tone="subdued" variant="bodySm">
                        {tierSummary(tier, i18n, currency)}
                      </Text>
                    </legend>
                    <FormLayout>
                      <FormLayout.Group condensed>
                        {amountField(t('discount.from'), tier.from, (v) => set({ from: v }, 'from'), `${p}.from`)}
                        {amountField(t('discount.to'), tier.to ?? '', (v) => set({ to: v === '' ? null : v }, 'to'), `${p}.to`, t('discount.toHelp'))}
                      </FormLayout.Group>
                      <FormLayout.Group condensed>
                        <Select
                          id={id(`${p}.kind`)}
                          label={t('discount.kind')}
                          options={DISCOUNT_KINDS.map((k) => ({ label: t(`discount.kind.${k}`), value: k }))}
                          value={tier.kind}
                          onChange={(v) => update((x) => updateTier(x, i, withKind(tier, v as typeof tier.kind)), p)}
                          error={err(`${p}.kind`)}
                        />
                        {tier.kind === 'percentage' && (
                          <TextField
                            id={id(`${p}.percent`)}
                            label={t('discount.percent')}
                            type="number"
                            min={1}
                            max={100}
                            suffix="%"
                            value={String(tier.percent)}
                            onChange={(v) => set({ percent: Math.max(0, Math.floor(Number(v) || 0)) }, 'percent')}
                            autoComplete="off"
                            error={err(`${p}.percent`)}
                          />
                        )}
                        {tier.kind === 'fixed_amount' && amountField(t('discount.amount'), tier.amount, (v) => set({ amount: v }, 'amount'), `${p}.amount`)}
                        {amountField(t('discount.minimum'), tier.minimum, (v) => set({ minimum: v }, 'minimum'), `${p}.minimum`, t('discount.minimumHelp'))}
                      </FormLayout.Group>
                    </FormLayout>
                    <InlineStack align="end">
                      <Button variant="plain" tone="critical" onClick={() => update((x) => removeTier(x, i), 'tiers')} accessibilityLabel={t('discount.removeTier', { n: i + 1 })}>
                        {t('action.remove')}
                      </Button>
                    </InlineStack>
                  </fieldset>
                </Box>
              </li>
            );
          })}
        </ol>
        <InlineStack>
          <Button onClick={() => update(addTier, 'tiers')} disabled={table.tiers.length >= MAX_TIERS}>
            {t('discount.addTier')}
          </Button>
        </InlineStack>
        <FormLayout>
          <FormLayout.Group condensed>
            <TextField
              id={id('expiry_hours')}
              label={t('discount.expiry')}
              type="number"
              min={0}
              max={720}
              value={String(table.expiry_hours)}
              onChange={(v) => update((x) => ({ ...x, expiry_hours: Math.max(0, Math.floor(Number(v) || 0)) }), 'expiry_hours')}
              helpText={t('discount.expiryHelp')}
              autoComplete="off"
              error={err('expiry_hours')}
            />
            <TextField
              id={id('prefix')}
              label={t('discount.prefix')}
              value={table.prefix}
              onChange={(v) => update((x) => ({ ...x, prefix: v.toUpperCase() }), 'prefix')}
              helpText={t('discount.prefixHelp')}
              maxLength={12}
              autoComplete="off"
              error={err('prefix')}
            />
          </FormLayout.Group>
          {amountField(
            t('discount.cartsAbove'),
            table.carts_above ?? '',
            (v) => update((x) => ({ ...x, carts_above: v === '' ? null : v }), 'carts_above'),
            'carts_above',
            t('discount.cartsAboveHelp'),
          )}
          <Checkbox
            label={t('discount.newCustomersOnly')}
            checked={table.new_customers_only}
            onChange={(c) => update((x) => ({ ...x, new_customers_only: c }), 'new_customers_only')}
          />
        </FormLayout>
        <InlineStack gap="200" align="end" wrap>
          {discount.custom && (
            <Button onClick={() => void reset()} loading={resetting} disabled={saving}>
              {t('discount.reset')}
            </Button>
          )}
          <Button variant="primary" submit loading={saving} disabled={!dirty || resetting}>
            {t('discount.save')}
          </Button>
        </InlineStack>
      </BlockStack>
    </form>
  );
}
