import { useCallback, useEffect, useRef, useState } from 'react';
import {
  Badge,
  BlockStack,
  Box,
  Button,
  Card,
  Checkbox,
  ChoiceList,
  InlineError,
  InlineStack,
  Layout,
  Modal,
  Page,
  Select,
  Spinner,
  Text,
  TextField,
} from '@shopify/polaris';

import { api, ApiError, type Delay, type Flow, type Locale, type Preview, type Step } from '../api';
import { AsyncView, ErrorBanner, messageOf, useAsync } from '../components/async';
import { PreviewFrame } from '../components/PreviewFrame';
import { DiscountTiersCard } from '../components/DiscountTiersCard';
import { NoticeBanner, type Notice } from '../components/NoticeBanner';
import { FlowRulesCard } from '../components/FlowRulesCard';
import { delayKind, stepError, stepsWithErrors, switchDelay, toggleWeekday, updateStep, WEEKDAYS, withoutStepErrors } from '../flowEdit';
import { useI18n, type I18n } from '../i18n';
import { insertAt, LIQUID_VARIABLES, tag } from '../liquid';
import { withoutErrorsUnder } from '../useSaveForm';
import { navigate } from '../router';

const PREVIEW_DEBOUNCE_MS = 400;

export function SequenceEditorPage({ flowKey }: { flowKey: string }) {
  const { t } = useI18n();
  const [state, reload] = useAsync(() => api.getFlow(flowKey), [flowKey]);
  if (state.kind !== 'ready') {
    return (
      <Page title={t('editor.title')} backAction={{ content: t('sequences.title'), onAction: () => navigate('/sequences') }}>
        <AsyncView state={state} onRetry={reload} lines={10}>
          {() => null}
        </AsyncView>
      </Page>
    );
  }
  return <Editor key={state.data.key} initial={state.data} />;
}

export function delaySummary(d: Delay, i: I18n): string {
  const kind = delayKind(d);
  if (kind === 'hours') return i.t('delay.afterHours', { n: d.hours ?? 0 });
  const base = kind === 'usable_life' ? i.t('delay.usableLife') : i.t('delay.afterDays', { n: d.days ?? 0 });
  return d.at ? `${base} ${i.t('delay.atTime', { at: d.at })}` : base;
}

type EditorNotice = (Notice & { list?: string[] }) | null;

function Editor({ initial }: { initial: Flow }) {
  const i18n = useI18n();
  const { t } = i18n;
  const [flow, setFlow] = useState<Flow>(initial);
  const [dirty, setDirty] = useState(false);
  const [selected, setSelected] = useState(0);
  const [fields, setFields] = useState<Record<string, string>>({});
  const [notice, setNotice] = useState<EditorNotice>(null);
  const [saving, setSaving] = useState(false);
  const [publishOpen, setPublishOpen] = useState(false);
  const [versionsKey, setVersionsKey] = useState(0);

  const step: Step | undefined = flow.steps[selected];
  const errIdx = stepsWithErrors(fields);

  const change = useCallback(
    (i: number, field: string, patch: Partial<Step>) => {
      setFlow((f) => updateStep(f, i, patch));
      setFields((fs) => withoutStepErrors(fs, i, field));
      setDirty(true);
    },
    [],
  );
  const changeRules = useCallback((fn: (f: Flow) => Flow, path: string) => {
    setFlow(fn);
    setFields((fs) => withoutErrorsUnder(fs, path));
    setDirty(true);
  }, []);

  async function saveDraft(): Promise<boolean> {
    setSaving(true);
    setNotice(null);
    try {
      await api.saveDraft(flow);
      setFields({});
      setDirty(false);
      setFlow((f) => ({ ...f, has_draft: true }));
      setNotice({ tone: 'success', text: t('editor.saved') });
      return true;
    } catch (err) {
      if (err instanceof ApiError && err.status === 422) {
        setFields(err.fields);
        const bad = [...stepsWithErrors(err.fields)];
        if (bad.length > 0 && !bad.includes(selected)) setSelected(bad[0]);
        // Errors of steps, exits and re-entry show next to their fields.
        const other = Object.entries(err.fields)
          .filter(([k]) => !/^(steps|exits|reentry)(\.|$)/.test(k))
          .map(([k, m]) => `${k}: ${m}`);
        setNotice({ tone: 'critical', text: t('editor.invalid'), list: other });
      } else {
        setNotice({ tone: 'critical', text: messageOf(err, t('error.generic')) });
      }
      return false;
    } finally {
      setSaving(false);
    }
  }

  async function publish(moveWaiting: boolean) {
    if (dirty && !(await saveDraft())) {
      setPublishOpen(false);
      return;
    }
    setSaving(true);
    try {
      await api.publishFlow(flow.key, moveWaiting);
      setPublishOpen(false);
      setNotice({ tone: 'success', text: t('editor.published') });
      setVersionsKey((k) => k + 1);
      try {
        setFlow(await api.getFlow(flow.key));
        setDirty(false);
      } catch {
        // The publication went through; the badges catch up on the next load.
      }
    } catch (err) {
      setPublishOpen(false);
      if (err instanceof ApiError && err.status === 422) setFields(err.fields);
      setNotice({ tone: 'critical', text: messageOf(err, t('error.generic')) });
    } finally {
      setSaving(false);
    }
  }

  return (
    <Page
      title={i18n.flowName(flow.key, flow.name)}
      backAction={{ content: t('sequences.title'), onAction: () => navigate('/sequences') }}
      titleMetadata={
        <InlineStack gap="100">
          <Badge tone={flow.enabled ? 'success' : undefined}>{flow.enabled ? t('sequences.on') : t('sequences.off')}</Badge>
          <Badge>{t('sequences.version', { v: flow.version })}</Badge>
          {(flow.has_draft || dirty) && <Badge tone="attention">{dirty ? t('editor.unsaved') : t('editor.draft')}</Badge>}
        </InlineStack>
      }
      primaryAction={{ content: t('editor.saveDraft'), onAction: saveDraft, loading: saving, disabled: !dirty }}
      secondaryActions={[{ content: t('editor.publish'), onAction: () => setPublishOpen(true), disabled: saving }]}
    >
      <BlockStack gap="400">
        {notice && (
          <NoticeBanner notice={notice} onDismiss={() => setNotice(null)}>
            {notice.list && notice.list.length > 0 && (
              <ul>
                {notice.list.map((x) => (
                  <li key={x}>{x}</li>
                ))}
              </ul>
            )}
          </NoticeBanner>
        )}
        <Layout>
          <Layout.Section variant="oneThird">
            <BlockStack gap="400">
              <Card>
                <BlockStack gap="300">
                  <Text as="h2" variant="headingMd">
                    {t('editor.steps')}
                  </Text>
                  {flow.steps.length === 0 ? (
                    <Text as="p" tone="subdued">
                      {t('editor.noSteps')}
                    </Text>
                  ) : (
                    <ol className="relance-timeline" aria-label={t('editor.steps')}>
                      {flow.steps.map((s, i) => (
                        <li key={s.key} className={i === selected ? 'is-selected' : undefined}>
                          <button
                            type="button"
                            className="relance-timeline-step"
                            aria-current={i === selected ? 'step' : undefined}
                            onClick={() => setSelected(i)}
                          >
                            <span className="relance-timeline-dot" aria-hidden="true" />
                            <span className="relance-timeline-body">
                              <span className="relance-timeline-delay">{delaySummary(s.delay, i18n)}</span>
                              <span className="relance-timeline-subject">{s.subject || t('editor.noSubject')}</span>
                              <span className="relance-timeline-meta">
                                {s.class === 'promotional' ? t('class.promotional') : t('class.transactional')}
                                {errIdx.has(i) && <strong className="relance-timeline-error"> · {t('editor.hasErrors')}</strong>}
                              </span>
                            </span>
                          </button>
                        </li>
                      ))}
                    </ol>
                  )}
                  {flow.goal && (
                    <Text as="p" tone="subdued" variant="bodySm">
                      {t('editor.goal', { goal: i18n.maybe(`goal.${flow.goal}`) ?? flow.goal })}
                    </Text>
                  )}
                </BlockStack>
              </Card>
              <FlowRulesCard flow={flow} fields={fields} onChange={changeRules} />
              <VersionHistory flowKey={flow.key} refreshKey={versionsKey} />
            </BlockStack>
          </Layout.Section>
          <Layout.Section>
            {step ? (
              <BlockStack gap="400">
                <StepForm index={selected} step={step} fields={fields} onChange={change} />
                {step.offer && <DiscountTiersCard flowKey={flow.key} stepKey={step.key} />}
                <PreviewPanel flowKey={flow.key} flowLocale={flow.locale} step={step} onErrors={(e) => setFields((fs) => ({ ...fs, ...prefixStep(e, selected) }))} />
                <TestEmailCard flowKey={flow.key} locale={flow.locale === 'fr' ? 'fr' : flow.locale === 'en' ? 'en' : undefined} step={step} />
              </BlockStack>
            ) : (
              <Card>
                <Text as="p" tone="subdued">
                  {t('editor.noSteps')}
                </Text>
              </Card>
            )}
          </Layout.Section>
        </Layout>
      </BlockStack>
      <PublishModal open={publishOpen} busy={saving} dirty={dirty} onClose={() => setPublishOpen(false)} onPublish={publish} />
    </Page>
  );
}

/** prefixStep turns the preview's field errors ("body") into the form's ("steps.0.body"). */
function prefixStep(e: Record<string, string>, i: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(e)) out[k.startsWith('steps.') ? k : `steps.${i}.${k}`] = v;
  return out;
}

type TextFieldName = 'subject' | 'preheader' | 'body';

function StepForm({
  index,
  step,
  fields,
  onChange,
}: {
  index: number;
  step: Step;
  fields: Record<string, string>;
  onChange: (i: number, field: string, patch: Partial<Step>) => void;
}) {
  const { t } = useI18n();
  const last = useRef<{ name: TextFieldName; start: number | null; end: number | null }>({ name: 'subject', start: null, end: null });
  const [variable, setVariable] = useState('');
  const id = (f: string) => `step-${index}-${f}`;

  const remember = (name: TextFieldName) => () => {
    const el = document.getElementById(id(name)) as HTMLInputElement | HTMLTextAreaElement | null;
    last.current = { name, start: el?.selectionStart ?? null, end: el?.selectionEnd ?? null };
  };

  function insert(v: string) {
    if (!v) return;
    const { name, start, end } = last.current;
    const r = insertAt(step[name] ?? '', tag(v), start, end);
    onChange(index, name, { [name]: r.value });
    setVariable('');
    requestAnimationFrame(() => {
      const el = document.getElementById(id(name)) as HTMLInputElement | HTMLTextAreaElement | null;
      if (el) {
        el.focus();
        el.setSelectionRange(r.caret, r.caret);
        last.current = { name, start: r.caret, end: r.caret };
      }
    });
  }

  const textField = (name: TextFieldName, label: string, multiline?: number) => (
    <div onKeyUp={remember(name)} onMouseUp={remember(name)} onBlur={remember(name)}>
      <TextField
        id={id(name)}
        label={label}
        value={step[name] ?? ''}
        onChange={(v) => onChange(index, name, { [name]: v })}
        onFocus={remember(name)}
        multiline={multiline}
        monospaced={name === 'body'}
        autoComplete="off"
        error={stepError(fields, index, name)}
      />
    </div>
  );

  return (
    <Card>
      <BlockStack gap="400">
        <Text as="h2" variant="headingMd">
          {t('editor.stepN', { n: index + 1 })}
        </Text>
        <DelayFields index={index} step={step} fields={fields} onChange={onChange} />
        <ChoiceList
          title={t('class.title')}
          choices={[
            { label: t('class.transactional'), value: 'transactional', helpText: t('class.transactionalHelp') },
            { label: t('class.promotional'), value: 'promotional', helpText: t('class.promotionalHelp') },
          ]}
          selected={[step.class]}
          onChange={(v) => onChange(index, 'class', { class: v[0] === 'promotional' ? 'promotional' : 'transactional' })}
          error={stepError(fields, index, 'class')}
        />
        <InlineStack gap="200" blockAlign="end" wrap>
          <div className="relance-grow">
            <Select
              label={t('editor.insertVariable')}
              helpText={t('editor.insertVariableHelp')}
              options={[{ label: t('editor.chooseVariable'), value: '' }, ...LIQUID_VARIABLES.map((v) => ({ label: tag(v), value: v }))]}
              value={variable}
              onChange={(v) => {
                setVariable(v);
                insert(v);
              }}
            />
          </div>
        </InlineStack>
        {textField('subject', t('editor.subject'))}
        {textField('preheader', t('editor.preheader'))}
        {textField('body', t('editor.body'), 10)}
        {stepError(fields, index, 'offer') && <InlineError message={stepError(fields, index, 'offer')!} fieldID={id('body')} />}
      </BlockStack>
    </Card>
  );
}

function DelayFields({
  index,
  step,
  fields,
  onChange,
}: {
  index: number;
  step: Step;
  fields: Record<string, string>;
  onChange: (i: number, field: string, patch: Partial<Step>) => void;
}) {
  const { t } = useI18n();
  const d = step.delay;
  const kind = delayKind(d);
  const amount = d.hours ?? d.days ?? 0;
  const set = (delay: Delay) => onChange(index, 'delay', { delay });
  const err = stepError(fields, index, 'delay');
  const weekdayNames = t('delay.weekdayNames').split(',');

  return (
    <BlockStack gap="200">
      <InlineStack gap="200" wrap blockAlign="start">
        {kind === 'usable_life' ? (
          <Text as="p">{t('delay.usableLife')}</Text>
        ) : (
          <>
            <div className="relance-narrow">
              <TextField
                id={`step-${index}-delay`}
                label={t('delay.wait')}
                type="number"
                min={0}
                value={String(amount)}
                autoComplete="off"
                onChange={(v) => {
                  const n = Math.max(0, Math.floor(Number(v) || 0));
                  set(kind === 'hours' ? { hours: n } : { ...d, days: n });
                }}
              />
            </div>
            <div className="relance-narrow">
              <Select
                label={t('delay.unit')}
                options={[
                  { label: t('delay.hours'), value: 'hours' },
                  { label: t('delay.days'), value: 'days' },
                ]}
                value={kind}
                onChange={(v) => set(switchDelay(d, v === 'hours' ? 'hours' : 'days'))}
              />
            </div>
          </>
        )}
        {kind !== 'hours' && (
          <div className="relance-narrow">
            <TextField
              label={t('delay.at')}
              type="time"
              value={d.at ?? ''}
              autoComplete="off"
              helpText={t('delay.atHelp')}
              onChange={(v) => set({ ...d, at: v })}
            />
          </div>
        )}
      </InlineStack>
      {kind !== 'hours' && (
        <fieldset className="relance-weekdays">
          <legend>{t('delay.weekdays')}</legend>
          <InlineStack gap="200" wrap>
            {WEEKDAYS.map((wd, k) => (
              <Checkbox
                key={wd}
                label={weekdayNames[k] ?? wd}
                checked={!d.weekdays || d.weekdays.length === 0 || d.weekdays.includes(wd)}
                onChange={(c) => set(toggleWeekday(d, wd, c))}
              />
            ))}
          </InlineStack>
        </fieldset>
      )}
      {err && <InlineError message={err} fieldID={`step-${index}-delay`} />}
    </BlockStack>
  );
}

function PreviewPanel({
  flowKey,
  flowLocale,
  step,
  onErrors,
}: {
  flowKey: string;
  flowLocale?: string;
  step: Step;
  onErrors: (e: Record<string, string>) => void;
}) {
  const { t, lang } = useI18n();
  const [locale, setLocale] = useState<Locale>(flowLocale === 'fr' || flowLocale === 'en' ? flowLocale : lang);
  const [contact, setContact] = useState('');
  const [state, setState] = useState<{ kind: 'loading' } | { kind: 'error'; message: string } | { kind: 'ready'; p: Preview }>({ kind: 'loading' });
  const [stale, setStale] = useState(false);
  const onErrorsRef = useRef(onErrors);
  onErrorsRef.current = onErrors;

  useEffect(() => {
    const ctl = new AbortController();
    setStale(true);
    const timer = setTimeout(() => {
      api
        .preview(
          {
            flow: flowKey,
            step: step.key,
            subject: step.subject,
            preheader: step.preheader,
            body: step.body,
            locale,
            ...(contact.trim() ? { contact_id: contact.trim() } : {}),
          },
          ctl.signal,
        )
        .then(
          (p) => {
            setState({ kind: 'ready', p });
            setStale(false);
          },
          (err: unknown) => {
            if (ctl.signal.aborted) return;
            setStale(false);
            if (err instanceof ApiError && err.status === 422) onErrorsRef.current(err.fields);
            setState({ kind: 'error', message: messageOf(err, t('error.generic')) });
          },
        );
    }, PREVIEW_DEBOUNCE_MS);
    return () => {
      clearTimeout(timer);
      ctl.abort();
    };
  }, [flowKey, step.key, step.subject, step.preheader, step.body, locale, contact, t]);

  return (
    <Card>
      <BlockStack gap="300">
        <InlineStack align="space-between" blockAlign="center" gap="200">
          <Text as="h2" variant="headingMd">
            {t('preview.title')}
          </Text>
          {stale && <Spinner size="small" accessibilityLabel={t('preview.updating')} />}
        </InlineStack>
        <InlineStack gap="200" wrap>
          <div className="relance-narrow">
            <Select
              label={t('preview.language')}
              options={[
                { label: 'English', value: 'en' },
                { label: 'Français', value: 'fr' },
              ]}
              value={locale}
              onChange={(v) => setLocale(v === 'fr' ? 'fr' : 'en')}
            />
          </div>
          <div className="relance-grow">
            <TextField label={t('preview.contact')} helpText={t('preview.contactHelp')} value={contact} onChange={setContact} autoComplete="off" />
          </div>
        </InlineStack>
        {state.kind === 'loading' && <Text as="p" tone="subdued">{t('state.loading')}</Text>}
        {state.kind === 'error' && <ErrorBanner title={t('preview.failed')} message={state.message} />}
        {state.kind === 'ready' && (
          <BlockStack gap="200">
            <Box background="bg-surface-secondary" padding="300" borderRadius="200">
              <BlockStack gap="100">
                <Text as="p" variant="headingSm">
                  <span data-testid="preview-subject">{state.p.subject}</span>
                </Text>
                <Text as="p" tone="subdued" variant="bodySm">
                  <span data-testid="preview-preheader">{state.p.preheader}</span>
                </Text>
              </BlockStack>
            </Box>
            <PreviewFrame html={state.p.html} title={t('preview.frameTitle', { subject: state.p.subject })} sample={contact.trim() === ''} />
          </BlockStack>
        )}
      </BlockStack>
    </Card>
  );
}

function TestEmailCard({ flowKey, locale, step }: { flowKey: string; locale?: Locale; step: Step }) {
  const { t, lang } = useI18n();
  const [to, setTo] = useState('');
  const [busy, setBusy] = useState(false);
  // Test emails go only to the shop's own inbox: start from the reply-to.
  useEffect(() => {
    let live = true;
    api.getSettings().then(
      (s) => {
        if (live && s.reply_to) setTo((cur) => cur || s.reply_to);
      },
      () => {},
    );
    return () => {
      live = false;
    };
  }, []);
  const [result, setResult] = useState<{ ok: boolean; text: string } | null>(null);
  const [fieldErr, setFieldErr] = useState<string | undefined>();

  async function send() {
    setBusy(true);
    setResult(null);
    setFieldErr(undefined);
    try {
      await api.sendTestEmail({ flow: flowKey, step: step.key, subject: step.subject, preheader: step.preheader, body: step.body, locale: locale ?? lang, to: to.trim() });
      setResult({ ok: true, text: t('test.sent', { to: to.trim() }) });
    } catch (err) {
      if (err instanceof ApiError && err.fields.to) setFieldErr(err.fields.to);
      setResult({ ok: false, text: messageOf(err, t('error.generic')) });
    } finally {
      setBusy(false);
    }
  }

  return (
    <Card>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void send();
        }}
      >
        <BlockStack gap="300">
          <Text as="h2" variant="headingMd">
            {t('test.title')}
          </Text>
          <InlineStack gap="200" blockAlign="end" wrap>
            <div className="relance-grow">
              <TextField label={t('test.to')} type="email" value={to} onChange={setTo} autoComplete="email" error={fieldErr} helpText={t('test.toHelp')} />
            </div>
            <Button submit loading={busy} disabled={to.trim() === ''}>
              {t('test.send')}
            </Button>
          </InlineStack>
          {result && (
            <div role={result.ok ? 'status' : 'alert'}>
              <Text as="p" tone={result.ok ? 'success' : 'critical'}>
                {result.text}
              </Text>
            </div>
          )}
        </BlockStack>
      </form>
    </Card>
  );
}

function VersionHistory({ flowKey, refreshKey }: { flowKey: string; refreshKey: number }) {
  const i = useI18n();
  const [state, reload] = useAsync(() => api.listFlowVersions(flowKey), [flowKey, refreshKey]);
  return (
    <Card>
      <BlockStack gap="200">
        <Text as="h2" variant="headingMd">
          {i.t('versions.title')}
        </Text>
        <AsyncView state={state} onRetry={reload} lines={2}>
          {(vs) =>
            vs.length === 0 ? (
              <Text as="p" tone="subdued">
                {i.t('versions.empty')}
              </Text>
            ) : (
              <ul className="relance-plain-list" data-testid="versions">
                {[...vs]
                  .sort((a, b) => b.version - a.version)
                  .map((v) => (
                    <li key={v.version}>
                      <Text as="span" fontWeight="semibold">
                        {i.t('sequences.version', { v: v.version })}
                      </Text>{' '}
                      <Text as="span" tone="subdued">
                        {i.dateTime(v.published_at)}
                      </Text>
                    </li>
                  ))}
              </ul>
            )
          }
        </AsyncView>
      </BlockStack>
    </Card>
  );
}

function PublishModal({
  open,
  busy,
  dirty,
  onClose,
  onPublish,
}: {
  open: boolean;
  busy: boolean;
  dirty: boolean;
  onClose: () => void;
  onPublish: (moveWaiting: boolean) => void;
}) {
  const { t } = useI18n();
  const [move, setMove] = useState<'move' | 'stay'>('move');
  return (
    <Modal
      open={open}
      onClose={onClose}
      title={t('publish.title')}
      primaryAction={{ content: t('publish.confirm'), onAction: () => onPublish(move === 'move'), loading: busy }}
      secondaryActions={[{ content: t('action.cancel'), onAction: onClose }]}
    >
      <Modal.Section>
        <BlockStack gap="300">
          {dirty && <Text as="p">{t('publish.savesFirst')}</Text>}
          <ChoiceList
            title={t('publish.waiting')}
            choices={[
              { label: t('publish.move'), value: 'move', helpText: t('publish.moveHelp') },
              { label: t('publish.stay'), value: 'stay', helpText: t('publish.stayHelp') },
            ]}
            selected={[move]}
            onChange={(v) => setMove(v[0] === 'stay' ? 'stay' : 'move')}
          />
        </BlockStack>
      </Modal.Section>
    </Modal>
  );
}
