// An accessible on/off switch (role="switch"), operable with Space and Enter.
// While busy it is aria-disabled, not disabled: a disabled button loses the
// keyboard focus, and the merchant would have to find the switch again.
export function Switch({
  checked,
  label,
  disabled,
  onChange,
  id,
}: {
  checked: boolean;
  label: string;
  disabled?: boolean;
  onChange: (next: boolean) => void;
  id?: string;
}) {
  return (
    <button
      type="button"
      id={id}
      role="switch"
      aria-checked={checked}
      aria-label={label}
      aria-disabled={disabled || undefined}
      className="relance-switch"
      onClick={() => {
        if (!disabled) onChange(!checked);
      }}
    >
      <span className="relance-switch-thumb" aria-hidden="true" />
    </button>
  );
}
