import { readFileSync, writeFileSync } from 'node:fs';
import {
  BUILTIN_LAYOUT_NAMES,
  type BuiltinLayoutName,
  builtinLayout,
  ConfigError,
  type Layout,
  layoutFromSpreadsheetCsv,
  loadLayoutFile,
} from '@scorebridge/core';
import { EXIT, type Io, write } from '../io.js';
import type { LayoutImportOptions, LayoutShowOptions } from './layout.command.js';

/** `scorebridge layout show`: the effective layout as a table, with certainty. */
export async function layoutShow(options: LayoutShowOptions, io: Io): Promise<number> {
  const layout = options.layout ? loadLayoutFile(options.layout) : builtinLayout(options.builtin);
  await write(
    io.stdout,
    options.json ? `${JSON.stringify(layout, null, 2)}\n` : renderTable(layout),
  );
  return EXIT.ok;
}

/** The layout as an aligned text table; sub-fields are indented under their block. */
export function renderTable(layout: Layout): string {
  const rows = [['START', 'END', 'SIZE', 'TYPE', 'CERTAINTY', 'ID', 'NAME']];
  const open: { end: number }[] = [];
  for (const f of layout.fields) {
    while (open.length > 0 && open[open.length - 1]!.end < f.start) open.pop();
    const indent = '  '.repeat(open.length);
    rows.push([
      String(f.start),
      String(f.end),
      String(f.end - f.start + 1),
      f.type,
      f.certainty,
      indent + f.id,
      f.name,
    ]);
    open.push(f);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const lines = rows.map((r) =>
    r
      .map((cell, c) => (c < 3 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!)))
      .join('  ')
      .trimEnd(),
  );
  const header = `${layout.name}: ${layout.recordLength} characters, ${layout.fields.length} fields${layout.description ? `\n${layout.description}` : ''}`;
  return `${header}\n\n${lines.join('\n')}\n`;
}

/** `scorebridge layout import`: an ETS layout spreadsheet saved as CSV → a layout or override file. */
export async function layoutImport(
  csvPath: string,
  options: Partial<LayoutImportOptions>,
  io: Io,
): Promise<number> {
  if (options.extends && !(BUILTIN_LAYOUT_NAMES as readonly string[]).includes(options.extends)) {
    throw new ConfigError(
      `--extends must name a shipped layout: ${BUILTIN_LAYOUT_NAMES.join(', ')}`,
    );
  }
  let csv: string;
  try {
    csv = readFileSync(csvPath, 'utf8');
  } catch (cause) {
    throw new ConfigError(`${csvPath}: cannot read the CSV (${(cause as Error).message})`, {
      cause,
      where: csvPath,
    });
  }
  const result = layoutFromSpreadsheetCsv(csv, {
    source: csvPath,
    extends: options.extends as BuiltinLayoutName | undefined,
    name: options.name,
    recordLength: options.recordLength,
  });
  const text = `${JSON.stringify(result, null, 2)}\n`;
  const what =
    'extends' in result ? `an override of ${result.extends}` : `the layout ${result.name}`;
  if (options.output) {
    writeFileSync(options.output, text);
    await write(
      io.stderr,
      `scorebridge: wrote ${what} (${result.fields.length} fields) to ${options.output}\n` +
        `scorebridge: check it with: scorebridge layout show --layout ${options.output}\n`,
    );
  } else await write(io.stdout, text);
  return EXIT.ok;
}
