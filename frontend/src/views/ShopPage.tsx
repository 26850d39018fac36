import { useCallback, useEffect, useState } from 'react';
import {
  Badge,
  Banner,
  BlockStack,
  Card,
  InlineStack,
  Page,
  SkeletonBodyText,
  SkeletonDisplayText,
  Text,
} from '@shopify/polaris';

import { api, ApiError, type Shop } from '../api';

type State =
  | { kind: 'loading' }
  | { kind: 'error'; message: string }
  | { kind: 'ready'; shop: Shop };

function formatDate(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return new Intl.DateTimeFormat(undefined, { dateStyle: 'long', timeStyle: 'short' }).format(d);
}

/** The first page: which shop Relance is installed on, and with what access. */
export function ShopPage() {
  const [state, setState] = useState<State>({ kind: 'loading' });

  const load = useCallback(() => {
    let cancelled = false;
    setState({ kind: 'loading' });
    api.getShop().then(
      (shop) => {
        if (!cancelled) setState({ kind: 'ready', shop });
      },
      (err: unknown) => {
        if (cancelled) return;
        const message = err instanceof ApiError ? err.message : 'Something went wrong. Try again.';
        setState({ kind: 'error', message });
      },
    );
    return () => {
      cancelled = true;
    };
  }, []);

  useEffect(() => load(), [load]);

  return (
    <Page title="Relance">
      {state.kind === 'error' && (
        <Banner tone="critical" title="Couldn't load your shop" action={{ content: 'Try again', onAction: load }}>
          <p>{state.message}</p>
        </Banner>
      )}
      {state.kind === 'loading' && (
        <Card>
          <BlockStack gap="400">
            <SkeletonDisplayText size="small" />
            <SkeletonBodyText lines={3} />
          </BlockStack>
        </Card>
      )}
      {state.kind === 'ready' && <ShopCard shop={state.shop} />}
    </Page>
  );
}

function ShopCard({ shop }: { shop: Shop }) {
  return (
    <Card>
      <BlockStack gap="400">
        <Text as="h2" variant="headingLg">
          {shop.name || shop.domain}
        </Text>
        <BlockStack gap="100">
          <Text as="h3" variant="headingSm">
            Domain
          </Text>
          <Text as="p">{shop.domain}</Text>
        </BlockStack>
        <BlockStack gap="100">
          <Text as="h3" variant="headingSm">
            Installed
          </Text>
          <Text as="p">{formatDate(shop.installedAt)}</Text>
        </BlockStack>
        <BlockStack gap="200">
          <Text as="h3" variant="headingSm">
            Access scopes
          </Text>
          {shop.scopes.length === 0 ? (
            <Text as="p" tone="subdued">
              None granted.
            </Text>
          ) : (
            <InlineStack gap="200" wrap>
              {shop.scopes.map((s) => (
                <Badge key={s}>{s}</Badge>
              ))}
            </InlineStack>
          )}
        </BlockStack>
      </BlockStack>
    </Card>
  );
}
