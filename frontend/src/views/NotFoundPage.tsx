import { Page } from '@shopify/polaris';

import { EmptyCard } from '../components/async';
import { useI18n } from '../i18n';

export function NotFoundPage() {
  const { t } = useI18n();
  return (
    <Page title={t('notFound.title')}>
      <EmptyCard heading={t('notFound.title')} action={{ content: t('nav.home'), url: '/' }}>
        {t('notFound.help')}
      </EmptyCard>
    </Page>
  );
}
