import { Argument, Command } from '@commander-js/extra-typings';
import type { Cli } from '../cli.js';

const declare = () =>
  new Command('completion')
    .description(
      'Print a shell completion script for scorebridge: commands, subcommands and options.',
    )
    .addArgument(new Argument('<shell>', 'the shell').choices(['bash', 'zsh', 'fish'] as const))
    .addHelpText(
      'after',
      `
  bash: scorebridge completion bash > ~/.local/share/bash-completion/completions/scorebridge
  zsh:  echo 'eval "$(scorebridge completion zsh)"' >> ~/.zshrc
  fish: scorebridge completion fish > ~/.config/fish/completions/scorebridge.fish`,
    );

/** `scorebridge completion`. */
export const completionCommand = (cli: Cli) =>
  declare().action(async (shell, _options, command) => {
    cli.status.code = await (await import('./completion.js')).completionCommand(
      shell,
      command.parent!,
      cli.io,
    );
  });
