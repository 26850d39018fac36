// The save-with-field-errors pattern every form of the admin shares: the
// edited value, whether it changed, the 422 field errors shown next to their
// fields (cleared as the merchant edits them), a notice after saving.
import { useCallback, useEffect, useState } from 'react';

import { ApiError } from './api';
import { messageOf } from './components/async';
import type { Notice } from './components/NoticeBanner';

export type FormNotice = Notice | null;

/**
 * withoutErrorsUnder drops the errors of path and of everything under it
 * ("tiers.1" clears "tiers.1.from"; "questions[0]" clears
 * "questions[0].text"); "" drops them all.
 */
export function withoutErrorsUnder(fields: Record<string, string>, path: string): Record<string, string> {
  if (path === '') return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (k !== path && !k.startsWith(path + '.') && !k.startsWith(path + '[')) out[k] = v;
  }
  return out;
}

/** errorUnder is the error of path, else the first error of a field under it. */
export function errorUnder(fields: Record<string, string>, path: string): string | undefined {
  return fields[path] ?? Object.entries(fields).find(([k]) => k.startsWith(path + '.') || k.startsWith(path + '['))?.[1];
}

export interface SaveFormOptions<T> {
  /** Stores the value; what it returns (if anything) becomes the value. */
  save: (value: T) => Promise<T | undefined | void>;
  /** The notice after a save. */
  savedText: string;
  /** The notice of a 422 that names fields (else the error's own message). */
  invalidText: string;
  /** The fallback message of an unexpected failure. */
  genericText: string;
  /** Whether the form starts changed (a starter nobody saved yet). */
  initiallyDirty?: boolean;
}

export interface SaveForm<T> {
  value: T;
  /** update changes the value and clears the errors under path ("": all of them, e.g. when indexes moved). */
  update: (fn: (v: T) => T, path?: string) => void;
  fields: Record<string, string>;
  notice: FormNotice;
  setNotice: (n: FormNotice) => void;
  saving: boolean;
  dirty: boolean;
  /** save stores the value; it resolves to whether it was stored. */
  save: () => Promise<boolean>;
}

/** useSaveForm edits initial (and starts over when initial changes). */
export function useSaveForm<T>(initial: T, opts: SaveFormOptions<T>): SaveForm<T> {
  const [value, setValue] = useState<T>(initial);
  const [fields, setFields] = useState<Record<string, string>>({});
  const [notice, setNotice] = useState<FormNotice>(null);
  const [saving, setSaving] = useState(false);
  const [dirty, setDirty] = useState(opts.initiallyDirty === true);

  useEffect(() => setValue(initial), [initial]);

  const update = useCallback((fn: (v: T) => T, path = '') => {
    setValue(fn);
    setDirty(true);
    setFields((f) => withoutErrorsUnder(f, path));
  }, []);

  async function save(): Promise<boolean> {
    setSaving(true);
    setNotice(null);
    try {
      const saved = await opts.save(value);
      if (saved !== undefined && saved !== null && typeof saved === 'object') setValue(saved as T);
      setFields({});
      setDirty(false);
      setNotice({ tone: 'success', text: opts.savedText });
      return true;
    } catch (err) {
      if (err instanceof ApiError && err.status === 422) {
        setFields(err.fields);
        setNotice({ tone: 'critical', text: Object.keys(err.fields).length > 0 ? opts.invalidText : err.message });
      } else {
        setNotice({ tone: 'critical', text: messageOf(err, opts.genericText) });
      }
      return false;
    } finally {
      setSaving(false);
    }
  }

  return { value, update, fields, notice, setNotice, saving, dirty, save };
}
