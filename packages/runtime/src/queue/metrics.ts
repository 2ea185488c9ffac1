import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** What worker metrics read when scraped. */
export interface MetricsReader {
  queueDepths(): Promise<{ queue: string; state: string; count: number }[]>;
  cursorAges(): Promise<{ pipeline: string; destination: string; seconds: number }[]>;
  usage(): {
    pipeline: string;
    destination: string;
    type: string;
    quota: string;
    used: number;
    limit: number;
  }[];
}

/**
 * Worker mode's Prometheus metrics (prom-client), in a registry of their own. Counters move when
 * a run commits (once per run, in the process that commits it), response times as the source
 * answers; queue depths, cursor ages and destinations' allowances (`Destination.usage()`) are
 * read when scraped.
 */
export function workerMetrics(read: MetricsReader) {
  const registry = new Registry();
  const records = (name: string, help: string) =>
    new Counter({
      name: `scorebridge_records_${name}_total`,
      help,
      labelNames: ['pipeline', 'destination'],
      registers: [registry],
    });
  const fetched = new Counter({
    name: 'scorebridge_records_fetched_total',
    help: 'Records fetched from TOEFL Access (unreadable ones included)',
    labelNames: ['pipeline'],
    registers: [registry],
  });
  const delivered = records('delivered', 'Records a destination confirmed');
  const unchanged = records('unchanged', 'Records a destination already held unchanged (skipped)');
  const deadLettered = records(
    'dead_lettered',
    'Records that became dead letters (destination "*": unreadable in the source)',
  );
  const responses = new Histogram({
    name: 'scorebridge_source_response_seconds',
    help: 'TOEFL Access response times (to the first byte of the body)',
    labelNames: ['pipeline', 'status'],
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const serverErrors = new Gauge({
    name: 'scorebridge_source_consecutive_500s',
    help: 'HTTP 500s in a row from TOEFL Access, at the last response',
    labelNames: ['pipeline'],
    registers: [registry],
  });
  scrapedGauges(registry, read);

  return {
    registry,
    run(
      pipeline: string,
      outcome: {
        fetched: number;
        parseIssues: number;
        destinations: readonly {
          id: string;
          delivered: number;
          unchanged: number;
          deadLettered: number;
        }[];
      },
    ) {
      fetched.inc({ pipeline }, outcome.fetched);
      if (outcome.parseIssues > 0)
        deadLettered.inc({ pipeline, destination: '*' }, outcome.parseIssues);
      for (const d of outcome.destinations) {
        delivered.inc({ pipeline, destination: d.id }, d.delivered);
        unchanged.inc({ pipeline, destination: d.id }, d.unchanged);
        deadLettered.inc({ pipeline, destination: d.id }, d.deadLettered);
      }
    },
    response(pipeline: string, status: number, ms: number, consecutive500s: number) {
      responses.observe({ pipeline, status: String(status) }, ms / 1000);
      serverErrors.set({ pipeline }, consecutive500s);
    },
  };
}

export type WorkerMetrics = ReturnType<typeof workerMetrics>;

/** Gauges read when Prometheus scrapes: queue depths, cursor ages, destinations' allowances. */
function scrapedGauges(registry: Registry, read: MetricsReader): void {
  new Gauge({
    name: 'scorebridge_queue_jobs',
    help: 'Jobs per queue and state',
    labelNames: ['queue', 'state'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const d of await read.queueDepths())
        this.set({ queue: d.queue, state: d.state }, d.count);
    },
  });
  new Gauge({
    name: 'scorebridge_cursor_age_seconds',
    help: "How far each destination's cursor is behind now",
    labelNames: ['pipeline', 'destination'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const c of await read.cursorAges())
        this.set({ pipeline: c.pipeline, destination: c.destination }, c.seconds);
    },
  });
  const usage = (
    name: string,
    help: string,
    pick: (u: { used: number; limit: number }) => number,
  ) =>
    new Gauge({
      name,
      help,
      labelNames: ['pipeline', 'destination', 'type', 'quota'],
      registers: [registry],
      collect() {
        this.reset();
        for (const u of read.usage())
          this.set(
            { pipeline: u.pipeline, destination: u.destination, type: u.type, quota: u.quota },
            pick(u),
          );
      },
    });
  usage(
    'scorebridge_destination_quota_used',
    "A destination's allowance used, as its service last said (Salesforce: daily API requests)",
    (u) => u.used,
  );
  usage(
    'scorebridge_destination_quota_limit',
    "A destination's allowance, as its service last said",
    (u) => u.limit,
  );
}
