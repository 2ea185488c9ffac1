import { ConfigError } from '@scorebridge/core';

/** Something to go wrong with the next request(s) to the scores endpoints. */
export type Fault =
  /** Answer with this status and ETS's text for it (500, 403, 503, 429 with `retryAfter`, …). */
  | { kind: 'status'; status: number; retryAfter?: number }
  /** Accept the request and never answer. */
  | { kind: 'hang' }
  /** Answer, but send the body slowly: `delayMs` between 16 KiB pieces. */
  | { kind: 'slow'; delayMs: number }
  /** Break the connection after this many bytes of body. */
  | { kind: 'truncate'; afterBytes: number }
  /** Redirect (302) to `location`. */
  | { kind: 'redirect'; location: string }
  /** Answer 200 with this body instead of scores (a proxy's page, a bare "ok", …). */
  | { kind: 'body'; body: string; contentType?: string };

/** A fault and how many requests it applies to. */
export type FaultSpec = Fault & { count?: number };

/** Faults waiting for requests, applied in order. */
export class FaultQueue {
  readonly #queue: { fault: Fault; left: number }[] = [];

  /** Adds faults; each applies to its `count` next requests (default 1). */
  add(...specs: FaultSpec[]): void {
    for (const { count = 1, ...fault } of specs)
      this.#queue.push({ fault: fault as Fault, left: count });
  }

  /** The fault for the next request, if any. */
  next(): Fault | undefined {
    const head = this.#queue[0];
    if (!head) return undefined;
    if (--head.left <= 0) this.#queue.shift();
    return head.fault;
  }

  /** Drops every waiting fault. */
  clear(): void {
    this.#queue.length = 0;
  }

  /** How many requests still have a fault waiting. */
  get pending(): number {
    return this.#queue.reduce((n, f) => n + f.left, 0);
  }
}

/**
 * Reads the CLI's fault list: comma-separated items, each optionally `xN` for N requests —
 * `500x3`, `403`, `429:30` (Retry-After 30 s), `hang`, `slow:200` (ms between pieces),
 * `truncate:5000` (bytes), `redirect:http://127.0.0.2:9999/scores`.
 */
export function parseFaults(text: string): FaultSpec[] {
  return text
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean)
    .map((item): FaultSpec => {
      const times = item.startsWith('redirect:') ? null : /x(\d+)$/.exec(item);
      const count = times ? Number(times[1]) : 1;
      const [name = '', ...rest] = (times ? item.slice(0, -times[0].length) : item).split(':');
      const arg = rest.length > 0 ? rest.join(':') : undefined;
      const number = (fallback: number) => {
        const n = arg === undefined ? fallback : Number(arg);
        if (!Number.isFinite(n) || n < 0) throw badFault(item);
        return n;
      };
      if (/^[1-5]\d\d$/.test(name)) {
        return {
          kind: 'status',
          status: Number(name),
          retryAfter: arg === undefined ? undefined : number(0),
          count,
        };
      }
      switch (name) {
        case 'hang':
          return { kind: 'hang', count };
        case 'slow':
          return { kind: 'slow', delayMs: number(100), count };
        case 'truncate':
          return { kind: 'truncate', afterBytes: number(4096), count };
        case 'redirect':
          if (!arg) throw badFault(item);
          return { kind: 'redirect', location: arg, count };
        case 'body':
          if (arg === undefined) throw badFault(item);
          return { kind: 'body', body: arg, count };
        default:
          throw badFault(item);
      }
    });
}

function badFault(item: string): ConfigError {
  return new ConfigError(
    `--faults: "${item}" is not a fault; use e.g. 500x3, 403, 429:30, hang, slow:200, truncate:5000, redirect:http://host/path, body:ok`,
  );
}
