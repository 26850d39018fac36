// Loading, error and empty states shared by every page, and the hook that
// drives them.
import { useCallback, useEffect, useRef, useState, type ReactNode } from 'react';
import { Banner, BlockStack, Card, EmptyState, SkeletonBodyText, SkeletonDisplayText, Text } from '@shopify/polaris';

import { ApiError } from '../api';
import { useI18n } from '../i18n';

export type AsyncState<T> = { kind: 'loading' } | { kind: 'error'; message: string } | { kind: 'ready'; data: T };

/** messageOf turns any failure into the text shown to the merchant. */
export function messageOf(err: unknown, fallback: string): string {
  return err instanceof ApiError ? err.message : fallback;
}

/** useAsync runs load when deps change; reload runs it again. Stale answers are dropped. */
export function useAsync<T>(load: () => Promise<T>, deps: unknown[]): [AsyncState<T>, () => void, (d: T) => void] {
  const { t } = useI18n();
  const [state, setState] = useState<AsyncState<T>>({ kind: 'loading' });
  const seq = useRef(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const generic = t('error.generic');

  const run = useCallback(() => {
    const n = ++seq.current;
    setState({ kind: 'loading' });
    loadRef.current().then(
      (data) => {
        if (n === seq.current) setState({ kind: 'ready', data });
      },
      (err: unknown) => {
        if (n === seq.current) setState({ kind: 'error', message: messageOf(err, generic) });
      },
    );
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [generic, ...deps]);

  useEffect(() => {
    run();
    return () => {
      seq.current++;
    };
  }, [run]);

  const set = useCallback((data: T) => setState({ kind: 'ready', data }), []);
  return [state, run, set];
}

export function LoadingCard({ lines = 3, label }: { lines?: number; label?: string }) {
  const { t } = useI18n();
  return (
    <Card>
      <div role="status" aria-live="polite" aria-busy="true">
        <span className="relance-visually-hidden">{label ?? t('state.loading')}</span>
        <BlockStack gap="400">
          <SkeletonDisplayText size="small" />
          <SkeletonBodyText lines={lines} />
        </BlockStack>
      </div>
    </Card>
  );
}

export function ErrorBanner({ title, message, onRetry }: { title?: string; message: string; onRetry?: () => void }) {
  const { t } = useI18n();
  return (
    <Banner
      tone="critical"
      title={title ?? t('error.title')}
      action={onRetry ? { content: t('action.retry'), onAction: onRetry } : undefined}
    >
      <p>{message}</p>
    </Banner>
  );
}

export function EmptyCard({ heading, children, action }: { heading: string; children?: ReactNode; action?: { content: string; url?: string; onAction?: () => void } }) {
  return (
    <Card>
      <EmptyState heading={heading} image="" action={action}>
        {typeof children === 'string' ? <Text as="p">{children}</Text> : children}
      </EmptyState>
    </Card>
  );
}

/** AsyncView renders the loading and error states of state, and children once it is ready. */
export function AsyncView<T>({
  state,
  onRetry,
  lines,
  children,
}: {
  state: AsyncState<T>;
  onRetry: () => void;
  lines?: number;
  children: (data: T) => ReactNode;
}) {
  if (state.kind === 'loading') return <LoadingCard lines={lines} />;
  if (state.kind === 'error') return <ErrorBanner message={state.message} onRetry={onRetry} />;
  return <>{children(state.data)}</>;
}
