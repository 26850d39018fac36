// The Liquid variables the email renderer provides (internal/mail/data.go),
// offered by the editor's "Insert variable" menu.
export const LIQUID_VARIABLES = [
  'shop.name',
  'shop.url',
  'customer.first_name',
  'greeting',
  'checkout.total_price',
  'checkout.item_count',
  'recovery_url',
  'discount.code',
  'discount.value',
  'discount.expires_in_hours',
  'order.name',
  'unsubscribe_url',
  'not_interested_url',
] as const;

/** tag is the Liquid output tag of a variable. */
export function tag(variable: string): string {
  return `{{ ${variable} }}`;
}

/**
 * insertAt puts text into value at the selection [start, end) — the whole
 * selection is replaced — and returns the new value and caret position.
 * Without a selection the text goes at the end.
 */
export function insertAt(value: string, text: string, start?: number | null, end?: number | null): { value: string; caret: number } {
  const s = start == null || start < 0 || start > value.length ? value.length : start;
  const e = end == null || end < s || end > value.length ? s : end;
  return { value: value.slice(0, s) + text + value.slice(e), caret: s + text.length };
}
