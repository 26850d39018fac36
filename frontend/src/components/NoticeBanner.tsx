// The notice a form shows after saving: announced politely when it went
// well, at once (role=alert) when it did not.
import type { ReactNode } from 'react';
import { Banner } from '@shopify/polaris';

export interface Notice {
  tone: 'success' | 'critical' | 'info';
  text: string;
}

export function NoticeBanner({ notice, onDismiss, children }: { notice: Notice; onDismiss: () => void; children?: ReactNode }) {
  return (
    <div role={notice.tone === 'critical' ? 'alert' : 'status'}>
      <Banner tone={notice.tone} onDismiss={onDismiss}>
        <p>{notice.text}</p>
        {children}
      </Banner>
    </div>
  );
}
