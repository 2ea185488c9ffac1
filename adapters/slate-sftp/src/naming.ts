/** The temporary suffix uploads carry until they are complete; a Slate mask must not match it. */
export const PART_SUFFIX = '.part';

/** Placeholders of a file-name template. */
export interface NameParts {
  readonly pipeline: string;
  readonly destination: string;
  /** The batch id (unique per batch, the same for a retried batch). */
  readonly batch: string;
  /** The batch window's end, `YYYYMMDD` (UTC). */
  readonly date: string;
  readonly ext: string;
}

/** `{pipeline}_{date}_{batch}.{ext}` → `demo_20261101_3f5c2a9e81d04b6c7a1e2f90.csv`. */
export function fileName(template: string, parts: NameParts): string {
  return template.replace(
    /\{(pipeline|destination|batch|date|ext)\}/g,
    (_, key: keyof NameParts) => parts[key],
  );
}

/** Slate's import mask: `?` is one character, `*` any run of characters; the rest literal. */
export function maskMatches(mask: string, name: string): boolean {
  const pattern = mask
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${pattern}$`).test(name);
}

/**
 * Problems with a template and mask, found at configuration time: names made from the template
 * must match the mask, names must be unique per batch ({batch} in the template), the mask needs
 * a meaningful prefix or suffix (as Slate requires), and temporary names must not match it.
 */
export function namingProblems(template: string, mask: string | undefined, ext: string): string[] {
  const problems: string[] = [];
  if (!template.includes('{batch}'))
    problems.push('fileName must contain {batch}: Slate overwrites files of the same name');
  if (/[/\\]/.test(template))
    problems.push('fileName must not contain a path; use remoteDirectory');
  const sample = fileName(template, {
    pipeline: 'pipeline',
    destination: 'slate',
    batch: '0123456789abcdef01234567',
    date: '20261101',
    ext,
  });
  if (/[^A-Za-z0-9_.-]/.test(sample))
    problems.push(`fileName makes "${sample}": use letters, digits, _, - and . only`);
  if (mask !== undefined) {
    if (!/^[A-Za-z0-9_.*?-]+$/.test(mask))
      problems.push(`mask "${mask}": Slate masks hold letters, digits, _, -, ., * and ? only`);
    if (mask.replace(/[*?]/g, '').length < 3)
      problems.push(`mask "${mask}" needs a meaningful prefix or suffix`);
    if (!maskMatches(mask, sample))
      problems.push(
        `fileName makes names like "${sample}", which the mask "${mask}" does not match: Slate would never import them`,
      );
    if (maskMatches(mask, `${sample}${PART_SUFFIX}`))
      problems.push(
        `the mask "${mask}" also matches "${sample}${PART_SUFFIX}": Slate could import half-uploaded files; end the mask with the extension`,
      );
  }
  return problems;
}
