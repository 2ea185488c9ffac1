/**
 * Cells that start with `=`, `+`, `-`, `@`, a tab or a carriage return can be run as formulas by
 * spreadsheet programs (CSV injection). Such a cell gets a leading apostrophe, which spreadsheets
 * show as text and drop from display.
 */
export function neutralizeFormula(cell: string): string {
  return /^[=+\-@\t\r]/.test(cell) ? `'${cell}` : cell;
}
