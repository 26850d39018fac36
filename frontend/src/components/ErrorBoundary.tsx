import { Component, type ErrorInfo, type ReactNode } from 'react';
import { Banner, Page } from '@shopify/polaris';

interface Props {
  children: ReactNode;
}

interface State {
  failed: boolean;
}

/** Catches rendering errors so a bug shows a message, not a blank iframe. */
export class ErrorBoundary extends Component<Props, State> {
  state: State = { failed: false };

  static getDerivedStateFromError(): State {
    return { failed: true };
  }

  componentDidCatch(error: Error, info: ErrorInfo) {
    console.error('Relance admin crashed', error, info.componentStack);
  }

  render() {
    if (this.state.failed) {
      return (
        <Page title="Relance">
          <Banner
            tone="critical"
            title="Something went wrong"
            action={{ content: 'Reload', onAction: () => window.location.reload() }}
          >
            <p>This page hit an unexpected error. Reloading usually fixes it.</p>
          </Banner>
        </Page>
      );
    }
    return this.props.children;
  }
}
