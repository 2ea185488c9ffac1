import { formatEtsDate } from '@scorebridge/core';
import type { RunEvent } from '@scorebridge/runtime';
import type { createLogUpdate } from 'log-update';
import type { Io } from './io.js';

/**
 * What a run shows while it works. On a terminal: one live status, redrawn in place (log-update)
 * — the slice, records fetched and their rate, what each destination took, an estimate of the
 * time left, and a countdown while a retry waits ("retrying TOEFL Access in 4:58 after HTTP 500
 * (attempt 2 of 6)"). Piped (cron, a log file): one plain line per slice and per retry. `quiet`: nothing.
 */
export class RunProgress {
  readonly #io: Io;
  readonly #quiet: boolean;
  /** On a terminal: one live status, redrawn (else one plain line per slice and retry). */
  readonly #tty: boolean;
  #live: ReturnType<typeof createLogUpdate> | undefined;
  #done = false;
  readonly #started = Date.now();
  readonly #delivered = new Map<string, number>();
  #slice = { index: 0, covered: 0, label: '' };
  #fetched = 0;
  #waiting:
    | { what: string; until: number; why: string; attempt: number; attempts: number }
    | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(io: Io, quiet = false) {
    this.#io = io;
    this.#quiet = quiet;
    const tty = (io.stderr as NodeJS.WriteStream).isTTY === true;
    this.#tty = tty && !quiet;
    // log-update (and what it loads) only on a terminal: a run from cron never needs it.
    if (this.#tty)
      void import('log-update').then(({ createLogUpdate }) => {
        if (this.#done) return;
        this.#live = createLogUpdate(io.stderr, { showCursor: true });
        this.#draw();
      });
  }

  on(event: RunEvent): void {
    if (this.#quiet) return;
    const retry =
      event.type === 'retry'
        ? {
            what: event.destination,
            delayMs: event.delayMs,
            error: event.error,
            attempt: event.attempt + 1,
            attempts: event.attempts,
          }
        : event.type === 'source' && event.event.type === 'retry'
          ? {
              what: 'TOEFL Access',
              delayMs: event.event.delayMs,
              error: event.event.error,
              attempt: event.event.attempt + 1,
              attempts: event.event.attempts,
            }
          : undefined;
    if (event.type === 'plan') this.#slice = { index: 0, covered: 0, label: '' };
    else if (event.type === 'source' && event.event.type === 'request') {
      this.#waiting = undefined;
      this.#slice = {
        ...this.#slice,
        label: `${formatEtsDate(event.event.slice.from)} → ${formatEtsDate(event.event.slice.to)}`,
      };
    } else if (event.type === 'slice') {
      this.#slice = { ...this.#slice, index: event.index + 1, covered: event.covered };
      this.#fetched = event.fetched;
      if (!this.#tty)
        this.#line(
          `slice ${event.index + 1} (${formatEtsDate(event.slice.from)} → ${formatEtsDate(event.slice.to)}): ${event.fetched} records fetched so far, ${percent(event.covered)} of the window`,
        );
    } else if (event.type === 'delivered') {
      this.#waiting = undefined;
      this.#delivered.set(
        event.destination,
        (this.#delivered.get(event.destination) ?? 0) + event.delivered,
      );
    }
    if (retry) {
      const why = retry.error.message;
      this.#waiting = {
        what: retry.what,
        until: Date.now() + retry.delayMs,
        why: /→ (\d{3})/.exec(why)?.[1] ? `HTTP ${/→ (\d{3})/.exec(why)![1]}` : why,
        attempt: retry.attempt,
        attempts: retry.attempts,
      };
      if (!this.#tty)
        this.#line(`${retry.what}: ${why}; retrying in ${(retry.delayMs / 1000).toFixed(1)} s`);
    }
    this.#draw();
  }

  /** Clears the live status (the summary follows it). */
  done(): void {
    this.#done = true;
    clearInterval(this.#timer);
    this.#live?.clear();
    this.#live?.done();
  }

  #line(text: string): void {
    this.#io.stderr.write(`scorebridge: ${text}\n`);
  }

  #draw(): void {
    if (!this.#live) return;
    const seconds = (Date.now() - this.#started) / 1000;
    const { index, covered, label } = this.#slice;
    const rate = seconds > 1 ? ` (${Math.round(this.#fetched / seconds)}/s)` : '';
    // Slices are read newest first and sized as the run goes: the estimate is by the window covered.
    const eta =
      covered > 0 && covered < 1
        ? ` · ${percent(covered)} of the window, about ${clock((seconds / covered) * (1 - covered))} left`
        : '';
    const delivered = [...this.#delivered].map(([id, n]) => ` · ${id} ${n} delivered`).join('');
    const lines = [
      // Once the window is covered, the last slice read; else the one being read.
      `slice ${covered >= 1 ? index : index + 1}${label ? ` (${label})` : ''} · ${this.#fetched} fetched${rate}${delivered}${eta}`,
    ];
    const w = this.#waiting;
    if (w && w.until > Date.now()) {
      lines.push(
        `retrying ${w.what} in ${clock((w.until - Date.now()) / 1000)} after ${w.why} (attempt ${w.attempt} of ${w.attempts})`,
      );
      // Counts down while it waits; stops by itself once the retry is made.
      this.#timer ??= setInterval(() => {
        if (!this.#waiting || this.#waiting.until <= Date.now()) {
          clearInterval(this.#timer);
          this.#timer = undefined;
        }
        this.#draw();
      }, 1000).unref();
    }
    this.#live(lines.join('\n'));
  }
}

/** Seconds as `m:ss` (or `h:mm:ss`). */
/** `0.4` → `40%`. */
function percent(share: number): string {
  return `${Math.floor(share * 100)}%`;
}

function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}
