import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { AppProvider } from '@shopify/polaris';
import polarisEn from '@shopify/polaris/locales/en.json';
import polarisFr from '@shopify/polaris/locales/fr.json';
import '@shopify/polaris/build/esm/styles.css';
import './app.css';

import { App } from './App';
import { detectLang, I18nProvider } from './i18n';
import { AppLink, RouterProvider } from './router';

const root = document.getElementById('root');
if (!root) {
  throw new Error('index.html has no #root element');
}

const lang = detectLang();
document.documentElement.lang = lang;

createRoot(root).render(
  <StrictMode>
    <AppProvider i18n={lang === 'fr' ? polarisFr : polarisEn} linkComponent={AppLink}>
      <I18nProvider lang={lang}>
        <RouterProvider>
          <App />
        </RouterProvider>
      </I18nProvider>
    </AppProvider>
  </StrictMode>,
);
