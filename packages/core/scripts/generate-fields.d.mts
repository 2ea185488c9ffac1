/** The source of src/record/fields.generated.ts, rendered from the shipped 1600 layout. */
export function render(): string;
