import { NavMenu } from '@shopify/app-bridge-react';

import { ErrorBoundary } from './components/ErrorBoundary';
import { ShopPage } from './views/ShopPage';

// The embedded-admin shell: App Bridge's navigation menu (rendered by the
// Shopify admin around the iframe; ignored outside it), a top-level error
// boundary, and the pages.
export function App() {
  return (
    <>
      <NavMenu>
        <a href="/" rel="home">
          Home
        </a>
      </NavMenu>
      <ErrorBoundary>
        <ShopPage />
      </ErrorBoundary>
    </>
  );
}
