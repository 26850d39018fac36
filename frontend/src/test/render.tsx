// Renders a component inside the providers the app has (Polaris, i18n, router).
import type { ReactElement } from 'react';
import { render } from '@testing-library/react';
import { AppProvider } from '@shopify/polaris';
import polarisEn from '@shopify/polaris/locales/en.json';

import { I18nProvider, type Lang } from '../i18n';
import { AppLink, RouterProvider } from '../router';

export function renderApp(ui: ReactElement, lang: Lang = 'en') {
  return render(
    <AppProvider i18n={polarisEn} linkComponent={AppLink}>
      <I18nProvider lang={lang}>
        <RouterProvider>{ui}</RouterProvider>
      </I18nProvider>
    </AppProvider>,
  );
}
