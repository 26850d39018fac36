// The rendered email in a sandboxed iframe (no scripts, no same-origin
// access) at desktop or mobile width. The backend renders it; we only show.
import { useState } from 'react';
import { BlockStack, ButtonGroup, Button, InlineStack, Text } from '@shopify/polaris';

import { useI18n } from '../i18n';

export const PREVIEW_WIDTHS = { desktop: 640, mobile: 375 } as const;
export type PreviewWidth = keyof typeof PREVIEW_WIDTHS;

export function PreviewFrame({
  html,
  title,
  initial = 'desktop',
  sample = false,
}: {
  html: string;
  title: string;
  initial?: PreviewWidth;
  /** Rendered with sample data (the editor's preview), not a real email. */
  sample?: boolean;
}) {
  const { t } = useI18n();
  const [width, setWidth] = useState<PreviewWidth>(initial);
  return (
    <BlockStack gap="200">
      <InlineStack align="end">
        <ButtonGroup variant="segmented">
          <Button pressed={width === 'desktop'} onClick={() => setWidth('desktop')}>
            {t('preview.desktop')}
          </Button>
          <Button pressed={width === 'mobile'} onClick={() => setWidth('mobile')}>
            {t('preview.mobile')}
          </Button>
        </ButtonGroup>
      </InlineStack>
      <div className="relance-preview-stage">
        <iframe
          className="relance-preview-frame"
          data-testid="preview-frame"
          data-width={width}
          title={title}
          sandbox=""
          srcDoc={html}
          style={{ width: `min(100%, ${PREVIEW_WIDTHS[width]}px)` }}
        />
      </div>
      <Text as="p" tone="subdued" variant="bodySm">
        {t(sample ? 'preview.widthNoteSample' : 'preview.widthNote', { px: PREVIEW_WIDTHS[width] })}
      </Text>
    </BlockStack>
  );
}
