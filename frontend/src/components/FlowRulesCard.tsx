// A sequence's exit and re-entry rules, edited with the draft: when a
// shopper may go through it again, and what besides the goal ends it.
import { BlockStack, Card, Checkbox, ChoiceList, InlineError, Text, TextField } from '@shopify/polaris';

import type { Flow, FlowExit } from '../api';
import { ALWAYS_ON_EXITS, reentryMode, toggleExit, withReentryMode } from '../flowEdit';
import { useI18n } from '../i18n';
import { errorUnder } from '../useSaveForm';

export function FlowRulesCard({
  flow,
  fields,
  onChange,
}: {
  flow: Flow;
  fields: Record<string, string>;
  /** onChange gets the changed flow and the field path whose errors it clears. */
  onChange: (fn: (f: Flow) => Flow, path: string) => void;
}) {
  const { t, maybe } = useI18n();
  const mode = reentryMode(flow.reentry);
  const trigger = maybe(`rules.trigger.${flow.key}`) ?? flow.key;
  const exitError = (x: FlowExit) => {
    const i = flow.exits.indexOf(x);
    return i >= 0 ? fields[`exits.${i}`] : undefined;
  };

  return (
    <Card>
      <BlockStack gap="300">
        <Text as="h2" variant="headingMd">
          {t('rules.title')}
        </Text>
        <ChoiceList
          title={t('rules.reentry')}
          choices={[
            { label: t('rules.reentryAny'), value: 'any', helpText: t('rules.reentryAnyHelp', { trigger }) },
            { label: t('rules.reentryOnce'), value: 'once', helpText: t('rules.reentryOnceHelp') },
            {
              label: t('rules.reentryCooldown'),
              value: 'cooldown',
              helpText: t('rules.reentryCooldownHelp'),
              renderChildren: (selected: boolean) =>
                selected && (
                  <div className="relance-narrow">
                    <TextField
                      id="flow-reentry-cooldown"
                      label={t('rules.cooldownDays')}
                      type="number"
                      min={1}
                      max={3650}
                      value={String(flow.reentry.cooldown_days)}
                      onChange={(v) =>
                        onChange((f) => ({ ...f, reentry: { once: false, cooldown_days: Math.max(0, Math.floor(Number(v) || 0)) } }), 'reentry')
                      }
                      autoComplete="off"
                      error={fields['reentry.cooldown_days']}
                    />
                  </div>
                ),
            },
          ]}
          selected={[mode]}
          onChange={(v) => onChange((f) => ({ ...f, reentry: withReentryMode(f.reentry, v[0] === 'once' ? 'once' : v[0] === 'cooldown' ? 'cooldown' : 'any') }), 'reentry')}
          error={fields.reentry}
        />
        <fieldset className="relance-fieldset">
          <legend>
            <Text as="span" variant="headingSm">
              {flow.goal === 'purchase' ? t('rules.exits') : t('rules.exitsNoGoal')}
            </Text>
          </legend>
          {flow.available_exits.length === 0 ? (
            <Text as="p" tone="subdued">
              {t('rules.noExits')}
            </Text>
          ) : (
            <BlockStack gap="100">
              {flow.available_exits.map((x) => {
                const fixed = ALWAYS_ON_EXITS.includes(x);
                return (
                  <Checkbox
                    key={x}
                    id={`flow-exit-${x}`}
                    label={maybe(`rules.exit.${x}`) ?? x}
                    helpText={maybe(`rules.exit.${x}Help`)}
                    checked={flow.exits.includes(x)}
                    disabled={fixed && flow.exits.includes(x)}
                    onChange={(c) => onChange((f) => toggleExit(f, x, c), 'exits')}
                    error={exitError(x)}
                  />
                );
              })}
            </BlockStack>
          )}
          {errorUnder(fields, 'exits') && !flow.exits.some((x) => exitError(x)) && <InlineError message={errorUnder(fields, 'exits')!} fieldID="flow-exit-emptied" />}
        </fieldset>
      </BlockStack>
    </Card>
  );
}
