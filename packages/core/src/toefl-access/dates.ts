import { ConfigError } from '../errors.js';

/** ETS's date-time format: `YYYY-MM-DDTHH:mm:ss`, UTC, no zone suffix. */
export function formatEtsDate(date: Date): string {
  return date.toISOString().slice(0, 19);
}

const ISO =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/;

/**
 * Reads a date or date-time given by a person (`2025-04-01`, `2025-04-01T08:30`,
 * `2025-04-01T08:30:00+02:00`). Without a zone it is UTC, as in ETS's API. `what` names the
 * option in the error.
 */
export function parseIsoInput(text: string, what: string): Date {
  const m = ISO.exec(text.trim());
  if (m) {
    const [, y, mo, d, h = '00', mi = '00', sec = '00', zone] = m;
    const date = new Date(`${y}-${mo}-${d}T${h}:${mi}:${sec}${normalizeZone(zone)}`);
    // Date() rolls 2025-02-30 over to March; a real calendar date reads back the same.
    const day = new Date(`${y}-${mo}-${d}T00:00:00Z`);
    const real = !Number.isNaN(day.getTime()) && day.toISOString().startsWith(`${y}-${mo}-${d}`);
    if (!Number.isNaN(date.getTime()) && real) return date;
  }
  throw new ConfigError(
    `${what}: "${text}" is not a date; use ISO 8601, e.g. 2025-04-01 or 2025-04-01T08:30:00 (UTC unless a zone is given)`,
  );
}

function normalizeZone(zone: string | undefined): string {
  if (!zone || zone === 'Z') return 'Z';
  return zone.includes(':') ? zone : `${zone.slice(0, 3)}:${zone.slice(3)}`;
}
