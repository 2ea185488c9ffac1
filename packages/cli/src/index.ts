import { Command, CommanderError, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { ScoreBridgeError, SourceError, serializeError } from '@scorebridge/core/light';
import type { Cli } from './cli.js';
import { adapterCommand } from './commands/adapter.command.js';
import { backfillCommand } from './commands/backfill.command.js';
import { checkCommand } from './commands/check.command.js';
import { completionCommand } from './commands/completion.command.js';
import { demoCommand } from './commands/demo.command.js';
import { dlqCommand } from './commands/dlq.command.js';
import { fetchCommand } from './commands/fetch.command.js';
import { layoutCommand } from './commands/layout.command.js';
import { parseCommand } from './commands/parse.command.js';
import { runCommand } from './commands/run.command.js';
import { sandboxCommand } from './commands/sandbox.command.js';
import { scheduleCommand } from './commands/schedule.command.js';
import { schemaCommand } from './commands/schema.command.js';
import { statusCommand } from './commands/status.command.js';
import { traceCommand } from './commands/trace.command.js';
import { validateCommand } from './commands/validate.command.js';
import { workerCommand } from './commands/worker.command.js';
import { EXIT, type Io, processIo } from './io.js';

const VERSION = '0.1.0';

/**
 * Builds the `scorebridge` program; actions store their exit status in `status.code`. Each
 * command is declared in its own `commands/*.command.ts`, which loads its handler only when it
 * runs (see {@link Cli}).
 */
export function buildProgram(io: Io, status: { code: number }): Command {
  const cli: Cli = { io, status };
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
  for (const command of [
    parseCommand,
    runCommand,
    validateCommand,
    checkCommand,
    statusCommand,
    traceCommand,
    workerCommand,
    scheduleCommand,
    backfillCommand,
    dlqCommand,
    schemaCommand,
    demoCommand,
    fetchCommand,
    sandboxCommand,
    layoutCommand,
    adapterCommand,
    completionCommand,
  ])
    program.addCommand(inheriting(command(cli), program));
  return program;
}

/**
 * A command declared on its own takes its parent's settings, as `.command()` would give them:
 * output, exit override, help after errors — its subcommands too.
 */
function inheriting<C extends CommandUnknownOpts>(command: C, parent: CommandUnknownOpts): C {
  command.copyInheritedSettings(parent);
  for (const sub of command.commands) inheriting(sub, command);
  return command;
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
