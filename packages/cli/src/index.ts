import {
  BUILTIN_LAYOUT_NAMES,
  ScoreBridgeError,
  SourceError,
  serializeError,
} from '@scorebridge/core/light';
import { Argument, Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_STATE_DIR, DEMO_DEFAULTS, LOG_LEVELS, type LogLevel } from './defaults.js';
import { EXIT, type Io, processIo } from './io.js';

// Each command's module is loaded when that command runs: `--help`, `validate` and `parse`
// never load BullMQ, jsforce, ssh2 or express.
const adapterCommands = () => import('./commands/adapter.js');
const completion = () => import('./commands/completion.js');
const demo = () => import('./commands/demo.js');
const discover = () => import('./commands/discover.js');
const fetching = () => import('./commands/fetch.js');
const layoutCommands = () => import('./commands/layout.js');
const parsing = () => import('./commands/parse.js');
const pipelineCommands = () => import('./commands/pipeline.js');
const sandbox = () => import('./commands/sandbox.js');
const trace = () => import('./commands/trace.js');
const validation = () => import('./commands/validate.js');
const worker = () => import('./commands/worker.js');

const VERSION = '0.1.0';

/** Builds the `scorebridge` program; actions store their exit status in `status.code`. */
export function buildProgram(io: Io, status: { code: number }): Command {
  const program = new Command('scorebridge')
    .description(
      "Moves TOEFL scores from ETS's TOEFL Access API into Salesforce, Slate, webhooks and files.",
    )
    .version(VERSION)
    .showHelpAfterError('scorebridge: run it with --help for usage')
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      // Usage errors read like every other error: `scorebridge: error: unknown option '--x'`.
      outputError: (text, write) =>
        write(
          text
            .split('\n')
            .map((line) => (line ? `scorebridge: ${line}` : line))
            .join('\n'),
        ),
    })
    .exitOverride();

  program
    .command('parse')
    .description(
      'Turn a ScoreLink (fixed-length) or JSON score file into records: JSON or CSV on stdout, problems on stderr.',
    )
    .argument('<file>', 'the file to read, or - for standard input')
    .addOption(
      new Option('--format <format>', 'the input format')
        .choices(['scorelink', 'json'])
        .default('scorelink'),
    )
    .addOption(
      new Option('--out <format>', 'the output: one JSON object per line, a JSON array, or CSV')
        .choices(['ndjson', 'json', 'csv'])
        .default('ndjson'),
    )
    .option(
      '--layout <file>',
      'a site layout file: a complete layout, or an override of a shipped one',
    )
    .addOption(
      new Option('--encoding <encoding>', "the input's text encoding")
        .choices(['utf-8', 'latin1'])
        .default('utf-8'),
    )
    .option(
      '--json-map <file>',
      'for --format json: {"fields": {"<JSON key>": "<layout id>"}} when the keys do not match layout ids',
    )
    .addHelpText(
      'after',
      `
Records with a problem (wrong length, invalid date, non-numeric score, blank key field) are
reported on stderr with their line and field; every good record is still printed. Lines of
1600 characters (current layout) and 900 (legacy) are recognised line by line; records may be
separated by \\n, \\r\\n, or not at all.

Exit status: 0 all records good, 1 some records had problems, 2 usage or configuration error.

Examples:
  scorebridge parse scores.txt > scores.ndjson
  scorebridge parse scores.txt --out csv > scores.csv
  scorebridge parse response.json --format json --out json
  scorebridge parse scores.txt --layout site-layout.json`,
    )
    .action(async (file: string, options) => {
      status.code = await (await parsing()).parseCommand(file, options, io);
    });

  const stateDir = () =>
    new Option(
      '--state-dir <dir>',
      `where cursors, ledgers and dead letters are kept (default: $SCOREBRIDGE_STATE_DIR, the pipeline's state:, or ${DEFAULT_STATE_DIR}/ beside the pipeline file)`,
    );
  const logLevel = (fallback: LogLevel) =>
    new Option(
      '--log-level <level>',
      'the least important log lines shown (JSON lines on stderr; readable on a terminal)',
    )
      .choices(LOG_LEVELS)
      .default(fallback);
  const redisOption = () =>
    new Option(
      '--redis <url>',
      'keep state in Redis instead (runs on several machines share it); default: $SCOREBRIDGE_REDIS_URL',
    );

  program
    .command('run')
    .description(
      'Run a pipeline once: fetch new scores, deliver them to every destination, remember what was confirmed.',
    )
    .argument('<pipeline.yaml>', 'the pipeline file')
    .option(
      '--from <iso>',
      'backfill: fetch this range instead of what is new (cursors do not move)',
    )
    .option('--to <iso>', 'backfill: end of the range (default: now)')
    .option('--dry-run', 'show what would be delivered where; deliver and write nothing', false)
    .option(
      '-q, --quiet',
      'only problems: no progress, and the summary only when something went wrong (for cron)',
      false,
    )
    .option('--json', 'the summary as one JSON document on stdout (docs/cli.md)', false)
    .addOption(stateDir())
    .addOption(redisOption())
    .addOption(logLevel('warn'))
    .addHelpText(
      'after',
      `
Each destination has a cursor (the end of the report-date window it confirmed) and a ledger
(the records it holds, by key and content hash). A run fetches from the earliest cursor, less
source.overlapHours, to now; records a destination already holds unchanged are skipped, changed
ones are delivered again as updates. Unreadable records and rejected ones become dead letters
(scorebridge dlq list). A crash at any point loses nothing: run again.

Ctrl-C (or SIGTERM) stops the run where it stands and records it as interrupted; press it
again to quit at once. Nothing is lost either way: the next run carries on.

Exit status: 0 all delivered; 1 some records were dead-lettered; 2 configuration error;
3 TOEFL Access failed; 4 a destination failed (its cursor did not move); 130 interrupted.`,
    )
    .action(async (file: string, options) => {
      status.code = await (await pipelineCommands()).runCommand(file, options, io);
    });

  program
    .command('validate')
    .description('Check pipeline files: every problem, with file:line:column.')
    .argument('<files...>', 'pipeline files')
    .option(
      '--resolve',
      'also require every ${env:…} and ${file:…} reference to resolve here, as a run does',
      false,
    )
    .option('--json', 'the results as one JSON document on stdout (docs/cli.md)', false)
    .addHelpText(
      'after',
      '\nWithout --resolve, references are checked for form only, so files validate without the secrets (in CI, in an editor).',
    )
    .action(async (files: string[], options) => {
      status.code = await (await validation()).validateCommand(files, options, io);
    });

  program
    .command('check')
    .description(
      "Check a pipeline's TOEFL Access key (the last 24 hours) and every destination's credentials and reachability.",
    )
    .argument('<pipeline.yaml>', 'the pipeline file')
    .option('--json', 'the results as one JSON document on stdout (docs/cli.md)', false)
    .action(async (file: string, options) => {
      status.code = await (await pipelineCommands()).checkCommand(file, options, io);
    });

  program
    .command('status')
    .description("Show a pipeline's cursors, recent runs and dead letters.")
    .argument('<pipeline.yaml>', 'the pipeline file')
    .option('--json', 'as one JSON document on stdout (docs/cli.md)', false)
    .addOption(stateDir())
    .addOption(redisOption())
    .action(async (file: string, options) => {
      status.code = await (await pipelineCommands()).statusCommand(file, options, io);
    });

  program
    .command('trace')
    .description(
      'Trace one report by appointment/registration number: each version met, when, what it changed, and what each destination confirmed.',
    )
    .argument('<pipeline.yaml>', 'the pipeline file')
    .argument('<appointment-number>', 'the appointment or registration number (spaces ignored)')
    .option('--json', 'as one JSON document on stdout (docs/cli.md)', false)
    .addOption(stateDir())
    .addOption(redisOption())
    .addHelpText(
      'after',
      `
Keys, content hashes, report windows and dead-letter reasons only: the state holds no personal
data, so neither does this. Reports are traced from this release on (the version history
began with it). Exit status: 0 found; 1 no such report met; 2 usage or configuration error.`,
    )
    .action(async (file: string, number: string, options) => {
      status.code = await (await trace()).traceCommand(file, number, options, io);
    });

  program
    .command('worker')
    .description(
      'Worker mode: run pipelines on their schedules as BullMQ jobs on Redis, with any number of worker processes on any number of machines.',
    )
    .argument('<pipelines...>', 'pipeline files, or directories of them (every .yaml/.yml)')
    .addOption(
      new Option('--redis <url>', 'the Redis every worker shares; default: $SCOREBRIDGE_REDIS_URL'),
    )
    .option(
      '--concurrency <n>',
      "deliveries at once per destination in this process (default: the pipeline's queue.concurrency, else 2)",
      positiveInteger,
    )
    .option(
      '--health-port <port>',
      'serve GET /health: 200 while jobs flow, 503 when work waits and nothing moves or Redis is gone',
      nonNegativeInteger,
    )
    .option(
      '--dashboard <port>',
      'serve a dashboard: Bull Board for the queues and a page of pipelines, cursors, runs, dead letters and open alerts (credentials: $SCOREBRIDGE_DASHBOARD_USER, $SCOREBRIDGE_DASHBOARD_PASSWORD)',
      nonNegativeInteger,
    )
    .option(
      '--metrics-port <port>',
      'serve Prometheus metrics at GET /metrics: records fetched, delivered, unchanged, dead-lettered; source response times; queue depths; cursor ages; Salesforce API usage',
      nonNegativeInteger,
    )
    .option(
      '--host <address>',
      'the address the liveness, metrics and dashboard endpoints listen on (0.0.0.0: every interface)',
      '127.0.0.1',
    )
    .addOption(new Option('--health-host <address>', 'the earlier name of --host').hideHelp())
    .addOption(logLevel('info'))
    .option(
      '--shutdown-seconds <s>',
      'on SIGTERM/SIGINT, how long to let jobs in hand finish',
      positiveInteger,
      30,
    )
    .option(
      '--lock-seconds <s>',
      "a job's lock: a job whose worker died is taken over after about this long",
      positiveInteger,
      30,
    )
    .addHelpText(
      'after',
      `
Every worker loads the same pipeline files. Per pipeline, a job scheduler (schedule.every or
schedule.cron, UTC) adds a run; a run plans the window from the cursors, fetches each slice,
stages the records — encrypted with SCOREBRIDGE_DATA_KEY — on each destination's own queue
(rate-limited by the destination's rateLimit), and moves each cursor once its deliveries are done.
Transient failures are retried with exponential backoff (queue.attempts, queue.backoffSeconds);
permanent ones, and the last attempt, become dead letters (scorebridge dlq list --redis).

Environment:
  SCOREBRIDGE_DATA_KEY      required: id:base64 of 32 bytes, e.g. k1:$(openssl rand -base64 32);
                            to rotate, put the new key first: k2:…,k1:…
  SCOREBRIDGE_REDIS_URL     instead of --redis
  SCOREBRIDGE_REDIS_PREFIX  key prefix, hash-tagged for Redis Cluster (default {scorebridge})
  SCOREBRIDGE_DASHBOARD_USER, SCOREBRIDGE_DASHBOARD_PASSWORD
                            the dashboard's sign-in (required with --dashboard)

Slack alerts (notifications.slack in a pipeline) come from workers as from runs: see
docs/operations.md for every alert and what to do.

Redis must be 6.2 or newer with maxmemory-policy noeviction (checked at start) and should keep
an append-only file. Examples:
  scorebridge worker pipelines/ --redis redis://redis.internal:6379 --health-port 8080
  scorebridge backfill pipelines/university.yaml --from 2026-01-01 --redis redis://…`,
    )
    .action(async (paths: string[], options) => {
      status.code = await (await worker()).workerCommand(paths, options, io);
    });

  const schedule = program
    .command('schedule')
    .description("List worker mode's pipeline schedules in Redis, or remove a retired pipeline's.");
  schedule
    .command('list')
    .description('Each pipeline schedule: its cron or interval and when it next fires.')
    .option('--json', 'as one JSON document on stdout', false)
    .addOption(redisOption())
    .action(async (options) => {
      status.code = await (await worker()).scheduleCommand('list', undefined, options, io);
    });
  schedule
    .command('remove')
    .description(
      "Remove a retired pipeline's schedule (by its name: the file may be gone); queued runs stay.",
    )
    .argument('<pipeline-name>', "the pipeline's name: as in its file, and in schedule list")
    .addOption(redisOption())
    .action(async (name: string, options) => {
      status.code = await (await worker()).scheduleCommand('remove', name, options, io);
    });

  program
    .command('backfill')
    .description(
      'Ask the workers to fetch and deliver a report-date range again, and follow it to the end.',
    )
    .argument('<pipeline.yaml>', 'the pipeline file (as the workers have it)')
    .option('--from <iso>', 'start of the range (UTC), e.g. 2026-01-01')
    .option('--to <iso>', 'end of the range (default: now)')
    .addOption(new Option('--redis <url>', "the workers' Redis; default: $SCOREBRIDGE_REDIS_URL"))
    .option('--no-wait', 'queue it and return at once')
    .option('--attach <run>', 'follow a backfill already queued (its id, as printed when queued)')
    .option('--cancel <run>', 'cancel a backfill: the workers skip what is not done yet')
    .addHelpText(
      'after',
      `
Records each destination already holds unchanged are skipped; cursors do not move. A backfill
waits for a run of the same pipeline in flight, and scheduled runs wait for it. Following it shows
the slices fetched of the planned total; Ctrl-C stops following (the workers carry on) and says
how to --attach again or --cancel it.

Exit status: 0 all delivered; 1 some records were dead-lettered; 2 configuration error;
3 some slices could not be fetched; 4 some deliveries failed.`,
    )
    .option('--json', 'the outcome as one JSON document on stdout (docs/cli.md)', false)
    .action(async (file: string, options) => {
      status.code = await (await worker()).backfillCommand(file, options, io);
    });

  const dlq = program
    .command('dlq')
    .description('Dead letters: records that could not be read or delivered.');
  dlq
    .command('list')
    .description('List open dead letters: kind, destination, record key, window and reason.')
    .argument('<pipeline.yaml>', 'the pipeline file')
    .option('--json', 'as one JSON document on stdout (docs/cli.md)', false)
    .addOption(stateDir())
    .addOption(redisOption())
    .action(async (file: string, options) => {
      status.code = await (await pipelineCommands()).dlqListCommand(file, options, io);
    });
  dlq
    .command('replay')
    .description(
      "Fetch dead letters' windows again and re-deliver those records; resolve the ones that now succeed.",
    )
    .argument('<pipeline.yaml>', 'the pipeline file')
    .option('--id <id...>', 'only these dead letters (default: all)')
    .addOption(stateDir())
    .addOption(redisOption())
    .addOption(logLevel('warn'))
    .action(async (file: string, options) => {
      status.code = await (await pipelineCommands()).dlqReplayCommand(file, options, io);
    });

  program
    .command('schema')
    .description('Print the JSON Schema of pipeline files, for editors (completion and checking).')
    .option('-o, --output <file>', 'write it to this file')
    .option(
      '--adapter <package...>',
      'also the options of these installed adapter packages (as pipelines name them by type)',
    )
    .action(async (options) => {
      status.code = await (await pipelineCommands()).schemaCommand(options, io);
    });

  program
    .command('demo')
    .description(
      'Run the demo: the TOEFL Access sandbox into ./demo-output/, no Redis, no credentials.',
    )
    .option('--pipeline <file>', 'the demo pipeline', DEMO_DEFAULTS.pipeline)
    .option(
      '--records <n>',
      'synthetic score reports in the sandbox',
      positiveInteger,
      DEMO_DEFAULTS.records,
    )
    .addOption(stateDir())
    .action(async (options) => {
      status.code = await (await demo()).demoCommand(options, io);
    });

  program
    .command('fetch')
    .description(
      'Fetch scores for a report-date window from TOEFL Access (or the sandbox) and print the records.',
    )
    .requiredOption(
      '--base-url <url>',
      'the scores endpoint, e.g. https://toeflaccess-api.ets.org/scores',
    )
    .requiredOption('--authcode-env <name>', 'the environment variable holding the API key')
    .requiredOption('--from <iso>', 'window start: a date or date-time, UTC unless a zone is given')
    .requiredOption('--to <iso>', 'window end')
    .addOption(
      new Option('--format <format>', 'ask for ScoreLink (fixed-length) or JSON')
        .choices(['scorelink', 'json'])
        .default('scorelink'),
    )
    .addOption(
      new Option('--out <format>', 'print one JSON object per line, a JSON array, or CSV')
        .choices(['ndjson', 'json', 'csv'])
        .default('ndjson'),
    )
    .option('--layout <file>', 'a site layout or override file')
    .option('--json-map <file>', 'for --format json: {"fields": {"<JSON key>": "<layout id>"}}')
    .option('--type <type>', 'the type/program parameter', 'TOEFL')
    .option('--report-by <value>', 'the reportby parameter', 'scorelinkbyreportdate')
    .option(
      '--max-window-days <n>',
      'the longest window of one request (ETS asks for 30 or less)',
      positiveInteger,
      30,
    )
    .option('--plan', 'print the requests the window needs, and make none (no key needed)', false)
    .option('--json', 'with --plan: the requests as one JSON document (docs/cli.md)', false)
    .addHelpText(
      'after',
      `
The window is fetched in slices of at most --max-window-days; slices share one second so no
report on an edge is missed, and a report in both is printed once. Network errors, timeouts and
server errors are retried with backoff (after an HTTP 500: 5–10 minutes, then smaller windows,
as ETS advises); a rejected key is not retried, and the error says what to do.

ETS advises testing a new key with a small date range first — this command is how:
  export TOEFL_KEY='…'
  npx scorebridge fetch --base-url https://toeflaccess-api.ets.org/scores \\
    --authcode-env TOEFL_KEY --from 2026-11-01 --to 2026-11-02

Exit status: 0 all good; 1 some records had problems; 2 usage or configuration error;
3 TOEFL Access refused or failed (the message says why and what to do).`,
    )
    .action(async (options) => {
      status.code = await (await fetching()).fetchCommand(options, io, process.env);
    });

  program
    .command('sandbox')
    .description(
      "Run the TOEFL Access sandbox: ETS's API with synthetic scores, for trying ScoreBridge without credentials.",
    )
    .option('--port <n>', 'port to listen on (0: any free port)', nonNegativeInteger, 8787)
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--seed <n>', 'the same seed gives the same data', nonNegativeInteger, 1)
    .option('--records <n>', 'how many score reports', positiveInteger, 500)
    .option('--days <n>', 'report dates spread over the last this many days', positiveInteger, 365)
    .option(
      '--authcode <key>',
      'a key to accept; repeat for several (default: a new one, printed)',
      (key: string, keys: string[] = []) => [...keys, key],
    )
    .option(
      '--faults <list>',
      'faults for the first requests: 500x3, 403, 429:30, hang, slow:200, truncate:5000, redirect:URL',
    )
    .addOption(
      new Option('--error-format <format>', 'error bodies as plain text or JSON')
        .choices(['text', 'json'])
        .default('text'),
    )
    .option(
      '--hidden-layout <seed>',
      'serve JSON names and iBT26 positions of its own (for trying scorebridge layout discover)',
      nonNegativeInteger,
    )
    .option('--ambiguous', 'with --hidden-layout: write one iBT26 part at two places', false)
    .action(async (options) => {
      status.code = await (await sandbox()).sandboxCommand(options, io);
    });

  const layout = program
    .command('layout')
    .description("Inspect the ScoreLink record layout, or import ETS's layout spreadsheet.");

  layout
    .command('show')
    .description(
      'Print the effective layout as a table: positions, type, and how certain each field is.',
    )
    .option('--layout <file>', 'a site layout or override file (default: the shipped layout)')
    .addOption(
      new Option('--builtin <name>', 'which shipped layout to show')
        .choices([...BUILTIN_LAYOUT_NAMES])
        .default('scorelink-1600'),
    )
    .option(
      '--json',
      'print the effective layout as JSON (an override merged into its base)',
      false,
    )
    .action(async (options) => {
      status.code = await (await layoutCommands()).layoutShow(options, io);
    });

  layout
    .command('import')
    .description(
      "Turn ETS's ScoreLink layout spreadsheet, saved as CSV, into a layout file ScoreBridge reads.",
    )
    .argument(
      '<file.csv>',
      'the CSV, with the columns Start, End, Size, Data Format, CL A, CL N, Field Name, Comments',
    )
    .addOption(
      new Option(
        '--extends <layout>',
        'write an override of this shipped layout (e.g. just the iBT26 sub-fields) instead of a complete layout',
      ).choices([...BUILTIN_LAYOUT_NAMES]),
    )
    .option('--name <name>', 'the name of a complete layout', 'site-layout')
    .option(
      '--record-length <n>',
      'the record length of a complete layout (default: the largest End)',
      positiveInteger,
    )
    .option('-o, --output <file>', 'write to this file instead of stdout')
    .addHelpText(
      'after',
      `
Every row that does not add up (End − Start + 1 ≠ Size, overlapping rows, non-numbers) is
reported with its CSV line, and nothing is written. A row wholly containing other rows is a
block (type raw); the rows inside are its sub-fields. Types are guessed from the field names
(dates, scores, filler) — review them, then use the file with --layout.

Examples:
  scorebridge layout import ets-layout.csv -o site-layout.json
  scorebridge layout import ibt26-block.csv --extends scorelink-1600 -o ibt26-override.json
  scorebridge layout show --layout ibt26-override.json`,
    )
    .action(async (file: string, options) => {
      status.code = await (await layoutCommands()).layoutImport(file, options, io);
    });

  layout
    .command('discover')
    .description(
      'Learn the JSON field names and the iBT26 sub-field positions from one window fetched both as ScoreLink and as JSON.',
    )
    .option('--base-url <url>', "the scores endpoint (with --ets-test: ETS's test endpoint)")
    .option(
      '--authcode-env <name>',
      "the environment variable holding the API key (with --ets-test: ETS's published sample key)",
    )
    .option('--from <iso>', 'window start: a date or date-time, UTC unless a zone is given')
    .option('--to <iso>', 'window end')
    .option(
      '--ets-test',
      "use ETS's test environment: its sample-data endpoint, example window and sample key",
      false,
    )
    .option('-o, --out-dir <dir>', 'where to write the three files', 'layout-discovery')
    .option('--type <type>', 'the type/program parameter', 'TOEFL')
    .option('--report-by <value>', 'the reportby parameter', 'scorelinkbyreportdate')
    .option(
      '--max-window-days <n>',
      "the longest window of one request (default 30; with --ets-test one request, as ETS's example)",
      positiveInteger,
    )
    .addHelpText(
      'after',
      `
The two bodies' records are paired by appointment number; for every JSON key discover finds
the positions where its value sits in the line (exact text, space- or zero-padded, dates as
YYYYMMDD, scores with or without a decimal point), keeping only positions every paired record
agrees on. It writes, in --out-dir:
  json-mapping.json      {"fields": {"<JSON key>": "<layout id>"}}, for source.jsonMapping
                         (or --json-map of parse and fetch)
  layout-override.json   the sub-fields found inside spans the shipped layout keeps raw
                         (the iBT26 block 832–937, 824–831, …), each with how many records agree
  discover-report.md     also printed: keys not placed and why, positions no key explains
It never guesses: a key that fits two places, or none, is reported and not written.

Start a new site with ETS's test environment, then the real key on a small window:
  scorebridge layout discover --ets-test
  scorebridge layout discover --base-url https://toeflaccess-api.ets.org/scores \\
    --authcode-env TOEFL_KEY --from 2026-10-01 --to 2026-10-31

Exit status: 0 every JSON key placed; 1 some were not (see the report); 2 usage or
configuration error; 3 TOEFL Access refused or failed.`,
    )
    .action(async (options) => {
      status.code = await (await discover()).discoverCommand(options, io, process.env);
    });

  const adapter = program
    .command('adapter')
    .description('Write destination adapters of your own, as npm packages a pipeline names.');
  adapter
    .command('new')
    .description(
      'Scaffold an adapter package: options, destination, errors, a contract test, a README.',
    )
    .argument('<name>', 'what it writes to, e.g. crm: the package is scorebridge-adapter-<name>')
    .option('--dir <dir>', 'where to create the package folder', '.')
    .option('--scope <scope>', 'an npm scope for the package name, e.g. @your-org')
    .addHelpText(
      'after',
      `
The package builds and passes ScoreBridge's destination contract suite as written:
  cd scorebridge-adapter-<name> && npm install && npm test
A pipeline then names it as its type once it is installed beside the pipeline file:
  destinations: [{ id: crm, type: scorebridge-adapter-<name>, options: { … } }]
See docs/adapters.md.`,
    )
    .action(async (name: string, options) => {
      status.code = await (await adapterCommands()).adapterNewCommand(name, options, io);
    });

  program
    .command('completion')
    .description(
      'Print a shell completion script for scorebridge: commands, subcommands and options.',
    )
    .addArgument(new Argument('<shell>', 'the shell').choices(['bash', 'zsh', 'fish']))
    .addHelpText(
      'after',
      `
  bash: scorebridge completion bash > ~/.local/share/bash-completion/completions/scorebridge
  zsh:  echo 'eval "$(scorebridge completion zsh)"' >> ~/.zshrc
  fish: scorebridge completion fish > ~/.config/fish/completions/scorebridge.fish`,
    )
    .action(async (shell: 'bash' | 'zsh' | 'fish') => {
      status.code = await (await completion()).completionCommand(shell, program, io);
    });

  return program;
}

function nonNegativeInteger(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('must be a whole number');
  return Number(value);
}

function positiveInteger(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1)
    throw new InvalidArgumentError('must be a whole number from 1');
  return Number(value);
}

/** Runs the CLI with arguments (without `node` and the script); resolves to the exit status. */
export async function main(argv: readonly string[], io: Io = processIo): Promise<number> {
  const status = { code: EXIT.ok as number };
  const program = buildProgram(io, status);
  if (argv.length === 0) {
    program.outputHelp();
    return EXIT.usage;
  }
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return status.code;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if ((error as NodeJS.ErrnoException).code === 'EPIPE') return status.code;
    io.stderr.write(`${errorText(error)}\n`);
    if (error instanceof SourceError) return EXIT.source;
    if (error instanceof ScoreBridgeError)
      return error.kind === 'parse' ? EXIT.inputProblems : EXIT.usage;
    if ((error as NodeJS.ErrnoException).syscall) return EXIT.usage;
    return EXIT.inputProblems;
  }
}

function errorText(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  if (e.syscall && e.path)
    return `scorebridge: error: cannot read ${e.path}: ${e.code === 'ENOENT' ? 'no such file' : e.code}`;
  const { message, remedy } = serializeError(error);
  const lines = message.split('\n').map((line) => `scorebridge: error: ${line}`);
  if (remedy) lines.push(`scorebridge: what to do: ${remedy}`);
  return lines.join('\n');
}
