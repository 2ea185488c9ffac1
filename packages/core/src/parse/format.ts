import type { Layout } from '../layout/layout.js';
import type { FieldValue } from '../record/values.js';

/**
 * Writes one fixed-length record: the parser's inverse, used by the sandbox and by tests.
 * Text is left-aligned and space-padded; dates `YYYY-MM-DD` become `YYYYMMDD`; whole scores are
 * zero-padded to the field width (`095`), half scores right-aligned (`5.5`). A field absent or
 * null is left blank; sub-fields are written over their container. Throws a `RangeError` naming
 * the field when a value does not fit.
 */
export function formatRecord(
  fields: Readonly<Record<string, FieldValue | undefined>>,
  layout: Layout,
): string {
  const chars: string[] = new Array(layout.recordLength).fill(' ');
  for (const f of layout.fields) {
    const value = fields[f.id];
    if (value == null || f.type === 'filler') continue;
    const width = f.end - f.start + 1;
    const text = encode(f.type, value, width);
    if (text.length > width) {
      throw new RangeError(
        `field ${f.id} (${f.start}–${f.end}) holds ${width} characters; the value has ${text.length}`,
      );
    }
    for (let i = 0; i < text.length; i++) chars[f.start - 1 + i] = text[i]!;
  }
  return chars.join('');
}

function encode(type: string, value: string | number, width: number): string {
  if (type === 'date' && typeof value === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(value)) {
    return value.replaceAll('-', '');
  }
  if (type === 'score' && typeof value === 'number') {
    return Number.isInteger(value)
      ? String(value).padStart(width, '0')
      : String(value).padStart(width, ' ');
  }
  return String(value);
}
