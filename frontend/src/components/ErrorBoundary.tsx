import { Component, type ErrorInfo, type ReactNode } from 'react';
import { Banner, Page } from '@shopify/polaris';

import { I18nContext, type I18n } from '../i18n';

interface Props {
  children: ReactNode;
}

interface State {
  failed: boolean;
}

/** Catches rendering errors so a bug shows a message, not a blank iframe. */
export class ErrorBoundary extends Component<Props, State> {
  static contextType = I18nContext;
  declare context: I18n;
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
            title={this.context.t('crash.title')}
            action={{ content: this.context.t('crash.reload'), onAction: () => window.location.reload() }}
          >
            <p>{this.context.t('crash.body')}</p>
          </Banner>
        </Page>
      );
    }
    return this.props.children;
  }
}
