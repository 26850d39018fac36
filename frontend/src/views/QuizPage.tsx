// The product quiz: the questions and answers the merchant defines, the
// segment each answer votes for, the products recommended per segment, and
// how each segment performs (GET /api/quiz/stats).
import { useEffect, useState } from 'react';
import { Badge, Banner, BlockStack, Box, Button, Card, Divider, FormLayout, InlineStack, Page, Select, Text, TextField } from '@shopify/polaris';

import { api, type QuizDefinition, type QuizProduct, type QuizSegmentStats, type QuizState } from '../api';
import { AsyncView, ErrorBanner, LoadingCard, useAsync } from '../components/async';
import { NoticeBanner } from '../components/NoticeBanner';
import { useI18n } from '../i18n';
import { useSaveForm } from '../useSaveForm';

export function QuizPage() {
  const { t } = useI18n();
  const [state, reload] = useAsync(() => api.getQuiz(), []);
  if (state.kind === 'ready') return <QuizEditor initial={state.data} />;
  return (
    <Page title={t('quiz.title')} subtitle={t('quiz.subtitle')}>
      <AsyncView state={state} onRetry={reload} lines={10}>
        {() => null}
      </AsyncView>
    </Page>
  );
}

/** nextId returns prefix + the smallest number not yet used among taken. */
export function nextId(prefix: string, taken: string[]): string {
  const used = new Set(taken);
  for (let n = 1; ; n++) if (!used.has(`${prefix}${n}`)) return `${prefix}${n}`;
}

export function QuizEditor({ initial }: { initial: QuizState }) {
  const { t } = useI18n();
  const [saved, setSaved] = useState(initial.saved);
  const [statsKey, setStatsKey] = useState(0);
  const form = useSaveForm<QuizDefinition>(initial.definition, {
    save: async (def) => {
      const res = await api.saveQuiz(def);
      setSaved(true);
      setStatsKey((k) => k + 1);
      return res.definition;
    },
    savedText: t('quiz.saved'),
    invalidText: t('quiz.invalid'),
    genericText: t('error.generic'),
    initiallyDirty: !initial.saved,
  });
  const { value: d, update, fields, notice, setNotice, saving, dirty, save } = form;

  useEffect(() => setSaved(initial.saved), [initial]);

  const setQ = (qi: number, fn: (q: QuizDefinition['questions'][number]) => QuizDefinition['questions'][number], path = '') =>
    update((x) => ({ ...x, questions: x.questions.map((q, i) => (i === qi ? fn(q) : q)) }), path);
  const setS = (si: number, fn: (s: QuizDefinition['segments'][number]) => QuizDefinition['segments'][number], path = '') =>
    update((x) => ({ ...x, segments: x.segments.map((s, i) => (i === si ? fn(s) : s)) }), path);
  const setP = (si: number, pi: number, patch: Partial<QuizProduct>, path: string) =>
    setS(si, (s) => ({ ...s, products: s.products.map((p, j) => (j === pi ? { ...p, ...patch } : p)) }), path);

  const err = (k: string): string | undefined => fields[k];
  const segmentOptions = [
    { label: t('quiz.noSegment'), value: '' },
    ...d.segments.map((s) => ({ label: s.name.trim() || s.key || '—', value: s.key })),
  ];
  const keyOptions = d.segments.filter((s) => s.key !== '').map((s) => ({ label: s.name.trim() || s.key, value: s.key }));

  return (
    <Page
      title={t('quiz.title')}
      subtitle={t('quiz.subtitle')}
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
          {!saved && (
            <Banner tone="info" title={t('quiz.starter')}>
              <p>{t('quiz.starterHelp')}</p>
            </Banner>
          )}

          <Card>
            <FormLayout>
              <Text as="h2" variant="headingMd">
                {t('quiz.general')}
              </Text>
              <TextField label={t('quiz.quizTitle')} value={d.title} onChange={(v) => update((x) => ({ ...x, title: v }), 'title')} error={err('title')} autoComplete="off" maxLength={200} />
              <TextField label={t('quiz.intro')} value={d.intro} onChange={(v) => update((x) => ({ ...x, intro: v }), 'intro')} error={err('intro')} multiline={2} autoComplete="off" maxLength={800} />
            </FormLayout>
          </Card>

          <Card>
            <BlockStack gap="400">
              <Text as="h2" variant="headingMd">
                {t('quiz.questions')}
              </Text>
              {err('questions') && <InlineError text={err('questions')!} />}
              {d.questions.length === 0 && <Text as="p" tone="subdued">{t('quiz.noQuestions')}</Text>}
              <ol className="relance-plain-list" data-testid="quiz-questions">
                {d.questions.map((q, qi) => {
                  const qp = `questions[${qi}]`;
                  return (
                    <li key={qi}>
                      <BlockStack gap="300">
                        {qi > 0 && <Divider />}
                        <InlineStack align="space-between" blockAlign="center" gap="200" wrap={false}>
                          <Text as="h3" variant="headingSm">
                            {t('quiz.questionN', { n: qi + 1 })}
                          </Text>
                          <Button variant="plain" tone="critical" accessibilityLabel={t('quiz.removeQuestion', { n: qi + 1 })} onClick={() => update((x) => ({ ...x, questions: x.questions.filter((_, i) => i !== qi) }))}>
                            {t('quiz.remove')}
                          </Button>
                        </InlineStack>
                        <TextField
                          label={t('quiz.questionText')}
                          labelHidden
                          placeholder={t('quiz.questionText')}
                          value={q.text}
                          onChange={(v) => setQ(qi, (x) => ({ ...x, text: v }), `${qp}.text`)}
                          error={err(`${qp}.text`) ?? err(`${qp}.id`)}
                          autoComplete="off"
                          maxLength={200}
                        />
                        {err(`${qp}.answers`) && <InlineError text={err(`${qp}.answers`)!} />}
                        {q.answers.map((a, ai) => {
                          const ap = `${qp}.answers[${ai}]`;
                          return (
                            <div key={ai} className="relance-quiz-answer">
                              <div className="relance-quiz-answer-text">
                                <TextField
                                  label={t('quiz.answerN', { n: ai + 1 })}
                                  value={a.text}
                                  onChange={(v) => setQ(qi, (x) => ({ ...x, answers: x.answers.map((y, j) => (j === ai ? { ...y, text: v } : y)) }), `${ap}.text`)}
                                  error={err(`${ap}.text`) ?? err(`${ap}.id`)}
                                  autoComplete="off"
                                  maxLength={200}
                                />
                              </div>
                              <div className="relance-quiz-answer-segment">
                                <Select
                                  label={t('quiz.answerSegment', { n: ai + 1 })}
                                  options={segmentOptions}
                                  value={a.segment ?? ''}
                                  onChange={(v) => setQ(qi, (x) => ({ ...x, answers: x.answers.map((y, j) => (j === ai ? { ...y, segment: v } : y)) }), `${ap}.segment`)}
                                  error={err(`${ap}.segment`)}
                                />
                              </div>
                              <div className="relance-quiz-answer-remove">
                                <Button variant="plain" tone="critical" accessibilityLabel={t('quiz.removeAnswer', { n: ai + 1 })} onClick={() => setQ(qi, (x) => ({ ...x, answers: x.answers.filter((_, j) => j !== ai) }))}>
                                  ×
                                </Button>
                              </div>
                            </div>
                          );
                        })}
                        <InlineStack>
                          <Button
                            onClick={() =>
                              setQ(qi, (x) => ({
                                ...x,
                                answers: [...x.answers, { id: nextId('a', x.answers.map((y) => y.id)), text: '', segment: '' }],
                              }))
                            }
                            disabled={q.answers.length >= 8}
                          >
                            {t('quiz.addAnswer')}
                          </Button>
                        </InlineStack>
                      </BlockStack>
                    </li>
                  );
                })}
              </ol>
              <InlineStack>
                <Button
                  onClick={() =>
                    update((x) => ({
                      ...x,
                      questions: [
                        ...x.questions,
                        { id: nextId('q', x.questions.map((q) => q.id)), text: '', answers: [{ id: 'a1', text: '', segment: '' }, { id: 'a2', text: '', segment: '' }] },
                      ],
                    }), 'questions')
                  }
                  disabled={d.questions.length >= 10}
                >
                  {t('quiz.addQuestion')}
                </Button>
              </InlineStack>
            </BlockStack>
          </Card>

          <Card>
            <BlockStack gap="400">
              <BlockStack gap="100">
                <Text as="h2" variant="headingMd">
                  {t('quiz.segments')}
                </Text>
                <Text as="p" tone="subdued">
                  {t('quiz.segmentsHelp')}
                </Text>
              </BlockStack>
              {err('segments') && <InlineError text={err('segments')!} />}
              <ol className="relance-plain-list" data-testid="quiz-segments">
                {d.segments.map((s, si) => {
                  const sp = `segments[${si}]`;
                  return (
                    <li key={si}>
                      <BlockStack gap="300">
                        {si > 0 && <Divider />}
                        <InlineStack align="space-between" blockAlign="center" gap="200" wrap={false}>
                          <Text as="h3" variant="headingSm">
                            {t('quiz.segmentN', { n: si + 1 })}
                          </Text>
                          <Button variant="plain" tone="critical" accessibilityLabel={t('quiz.removeSegment', { n: si + 1 })} onClick={() => update((x) => ({ ...x, segments: x.segments.filter((_, i) => i !== si) }))}>
                            {t('quiz.remove')}
                          </Button>
                        </InlineStack>
                        <FormLayout>
                          <FormLayout.Group condensed>
                            <TextField label={t('quiz.segmentName')} value={s.name} onChange={(v) => setS(si, (x) => ({ ...x, name: v }), `${sp}.name`)} error={err(`${sp}.name`)} autoComplete="off" maxLength={200} />
                            <TextField
                              label={t('quiz.segmentKey')}
                              value={s.key}
                              onChange={(v) => setS(si, (x) => ({ ...x, key: v.toLowerCase() }), `${sp}.key`)}
                              error={err(`${sp}.key`)}
                              helpText={t('quiz.segmentKeyHelp')}
                              autoComplete="off"
                              maxLength={32}
                            />
                          </FormLayout.Group>
                        </FormLayout>
                        <Text as="h4" variant="headingXs">
                          {t('quiz.products')}
                        </Text>
                        {err(`${sp}.products`) && <InlineError text={err(`${sp}.products`)!} />}
                        {s.products.length === 0 && (
                          <Text as="p" tone="subdued">
                            {t('quiz.noProducts')}
                          </Text>
                        )}
                        {s.products.map((p, pi) => {
                          const pp = `${sp}.products[${pi}]`;
                          return (
                            <Box key={pi} padding="300" borderWidth="025" borderColor="border" borderRadius="200">
                              <FormLayout>
                                <FormLayout.Group condensed>
                                  <TextField label={t('quiz.productTitle')} value={p.title} onChange={(v) => setP(si, pi, { title: v }, `${pp}.title`)} error={err(`${pp}.title`)} autoComplete="off" maxLength={200} />
                                  <TextField
                                    label={t('quiz.productId')}
                                    type="number"
                                    min={1}
                                    value={p.id ? String(p.id) : ''}
                                    onChange={(v) => setP(si, pi, { id: Math.max(0, Math.floor(Number(v) || 0)) }, `${pp}.id`)}
                                    error={err(`${pp}.id`)}
                                    autoComplete="off"
                                  />
                                </FormLayout.Group>
                                <TextField label={t('quiz.productUrl')} value={p.url} onChange={(v) => setP(si, pi, { url: v }, `${pp}.url`)} error={err(`${pp}.url`)} helpText={t('quiz.productUrlHelp')} autoComplete="off" maxLength={500} />
                                <InlineStack align="end">
                                  <Button variant="plain" tone="critical" onClick={() => setS(si, (x) => ({ ...x, products: x.products.filter((_, j) => j !== pi) }))}>
                                    {t('quiz.removeProduct', { n: pi + 1 })}
                                  </Button>
                                </InlineStack>
                              </FormLayout>
                            </Box>
                          );
                        })}
                        <InlineStack>
                          <Button onClick={() => setS(si, (x) => ({ ...x, products: [...x.products, { id: 0, title: '', url: '' }] }), `${sp}.products`)} disabled={s.products.length >= 8}>
                            {t('quiz.addProduct')}
                          </Button>
                        </InlineStack>
                      </BlockStack>
                    </li>
                  );
                })}
              </ol>
              <InlineStack>
                <Button
                  onClick={() => update((x) => ({ ...x, segments: [...x.segments, { key: nextId('s', x.segments.map((s) => s.key)), name: '', products: [] }] }), 'segments')}
                  disabled={d.segments.length >= 10}
                >
                  {t('quiz.addSegment')}
                </Button>
              </InlineStack>
              <Divider />
              <Select
                label={t('quiz.defaultSegment')}
                helpText={t('quiz.defaultSegmentHelp')}
                options={keyOptions.length > 0 ? keyOptions : [{ label: '—', value: '' }]}
                value={d.default_segment}
                onChange={(v) => update((x) => ({ ...x, default_segment: v }), 'default_segment')}
                error={err('default_segment')}
              />
            </BlockStack>
          </Card>

          <QuizStatsCard key={statsKey} />
          <button type="submit" className="relance-visually-hidden" tabIndex={-1} aria-hidden="true" />
        </BlockStack>
      </form>
    </Page>
  );
}

function InlineError({ text }: { text: string }) {
  return (
    <Text as="p" tone="critical">
      {text}
    </Text>
  );
}

/** QuizStatsCard shows submissions, consents and conversion by segment. */
export function QuizStatsCard() {
  const { t, number, percent } = useI18n();
  const [state, reload] = useAsync(() => api.getQuizStats(), []);
  if (state.kind === 'loading') return <LoadingCard lines={3} />;
  if (state.kind === 'error') return <ErrorBanner message={state.message} onRetry={reload} />;
  const rows: QuizSegmentStats[] = state.data;
  const total = rows.reduce((n, r) => n + (r.submissions || 0), 0);
  return (
    <Card>
      <BlockStack gap="300">
        <InlineStack align="space-between" blockAlign="center" gap="200">
          <Text as="h2" variant="headingMd">
            {t('quiz.stats')}
          </Text>
          <Text as="span" tone="subdued" variant="bodySm">
            <span data-testid="quiz-submissions">{t('quiz.submissions', { n: number(total) })}</span>
          </Text>
        </InlineStack>
        {total === 0 ? (
          <Text as="p" tone="subdued">
            {t('quiz.statsEmpty')}
          </Text>
        ) : (
          <ul className="relance-plain-list" data-testid="quiz-stats">
            {rows.map((r) => (
              <li key={r.segment}>
                <Box paddingBlock="200">
                  <InlineStack align="space-between" blockAlign="center" gap="200">
                    <BlockStack gap="050">
                      <Text as="span" fontWeight="semibold">
                        {r.name || r.segment}
                      </Text>
                      <Text as="span" tone="subdued" variant="bodySm">
                        {t('quiz.statsRow', { submissions: number(r.submissions), subscribed: number(r.subscribed), converted: number(r.converted) })}
                      </Text>
                    </BlockStack>
                    <Badge tone={r.conversion > 0 ? 'success' : undefined}>{t('quiz.conversion', { rate: percent(r.conversion) })}</Badge>
                  </InlineStack>
                </Box>
              </li>
            ))}
          </ul>
        )}
      </BlockStack>
    </Card>
  );
}
