import { NavMenu } from '@shopify/app-bridge-react';

import { ErrorBoundary } from './components/ErrorBoundary';
import { useI18n } from './i18n';
import { AppLink, useRoute, type Route } from './router';
import { ActivityPage, ContactPage } from './views/ActivityPage';
import { HomePage } from './views/HomePage';
import { NotFoundPage } from './views/NotFoundPage';
import { OutboxMessagePage, OutboxPage } from './views/OutboxPage';
import { SequenceEditorPage } from './views/SequenceEditorPage';
import { QuizPage } from './views/QuizPage';
import { SequencesPage } from './views/SequencesPage';
import { SettingsPage } from './views/SettingsPage';

/** Inside the Shopify admin the app runs in an iframe and App Bridge draws the menu. */
export function isEmbedded(): boolean {
  try {
    return window.top !== window.self;
  } catch {
    return true;
  }
}

const NAV: { url: string; key: 'nav.home' | 'nav.sequences' | 'nav.activity' | 'nav.quiz' | 'nav.settings' | 'nav.outbox'; pages: Route['page'][] }[] = [
  { url: '/', key: 'nav.home', pages: ['home'] },
  { url: '/sequences', key: 'nav.sequences', pages: ['sequences', 'sequence'] },
  { url: '/activity', key: 'nav.activity', pages: ['activity', 'contact'] },
  { url: '/quiz', key: 'nav.quiz', pages: ['quiz'] },
  { url: '/settings', key: 'nav.settings', pages: ['settings'] },
  { url: '/outbox', key: 'nav.outbox', pages: ['outbox', 'outboxMessage'] },
];

function View({ route }: { route: Route }) {
  switch (route.page) {
    case 'home':
      return <HomePage />;
    case 'sequences':
      return <SequencesPage />;
    case 'sequence':
      return <SequenceEditorPage flowKey={route.key} />;
    case 'activity':
      return <ActivityPage />;
    case 'contact':
      return <ContactPage id={route.id} />;
    case 'quiz':
      return <QuizPage />;
    case 'settings':
      return <SettingsPage />;
    case 'outbox':
      return <OutboxPage />;
    case 'outboxMessage':
      return <OutboxMessagePage id={route.id} />;
    default:
      return <NotFoundPage />;
  }
}

// The embedded-admin shell: App Bridge's navigation menu (drawn by the
// Shopify admin around the iframe), our own menu when running outside it
// (make dev), a top-level error boundary, and the current page.
export function App() {
  const { t } = useI18n();
  const route = useRoute();
  const embedded = isEmbedded();
  return (
    <>
      <NavMenu>
        <a href="/" rel="home">
          {t('nav.home')}
        </a>
        {NAV.slice(1).map((n) => (
          <a key={n.url} href={n.url}>
            {t(n.key)}
          </a>
        ))}
      </NavMenu>
      {!embedded && (
        <nav className="relance-topnav" aria-label={t('nav.label')}>
          <ul>
            {NAV.map((n) => (
              <li key={n.url}>
                <AppLink url={n.url} aria-current={n.pages.includes(route.page) ? 'page' : undefined}>
                  {t(n.key)}
                </AppLink>
              </li>
            ))}
          </ul>
        </nav>
      )}
      <main>
        {/* A new boundary per page, so one broken page does not take the menu with it. */}
        <ErrorBoundary key={route.page}>
          <View route={route} />
        </ErrorBoundary>
      </main>
    </>
  );
}
