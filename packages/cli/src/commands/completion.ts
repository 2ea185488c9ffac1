import type { CommandUnknownOpts as Command } from '@commander-js/extra-typings';
import { EXIT, type Io, write } from '../io.js';

/** A command path (`run`, `layout discover`) with its long options and subcommands. */
interface Entry {
  readonly path: string;
  readonly description: string;
  readonly options: readonly { readonly flag: string; readonly description: string }[];
  readonly subcommands: readonly string[];
}

/** Every command of the program, read from the program itself, so completion never drifts. */
function entries(program: Command): Entry[] {
  const out: Entry[] = [];
  const visit = (command: Command, path: string) => {
    const visible = command.commands.filter((c) => !(c as { _hidden?: boolean })._hidden);
    out.push({
      path,
      description: command.description(),
      options: command.options
        .filter((o) => o.long && !o.hidden)
        .map((o) => ({ flag: o.long!, description: o.description })),
      subcommands: visible.map((c) => c.name()),
    });
    for (const c of visible) visit(c, path ? `${path} ${c.name()}` : c.name());
  };
  visit(program, '');
  return out;
}

const quote = (text: string) => `'${text.replaceAll("'", "'\\''")}'`;

/** A bash completion script (zsh loads it through bashcompinit). */
function bash(program: Command): string {
  const all = entries(program);
  const known = all.filter((e) => e.path).map((e) => quote(e.path));
  const words = all
    .map(
      (e) =>
        `    ${quote(e.path)}) words=${quote([...e.subcommands, ...e.options.map((o) => o.flag), '--help'].join(' '))}; files=${e.path && e.subcommands.length === 0 ? 1 : 0} ;;`,
    )
    .join('\n');
  return `# scorebridge completion for bash: source it, or save it as
# ~/.local/share/bash-completion/completions/scorebridge (or in /etc/bash_completion.d/)
_scorebridge() {
  local cur=\${COMP_WORDS[COMP_CWORD]} path="" next word words="" files=0 i
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=\${COMP_WORDS[i]}
    [[ $word == -* ]] && continue
    next="\${path:+$path }$word"
    case "$next" in
      ${known.join('|')}) path=$next ;;
    esac
  done
  case "$path" in
${words}
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
  if [[ $files == 1 && $cur != -* ]]; then COMPREPLY+=($(compgen -f -- "$cur")); fi
  return 0
}
complete -o filenames -F _scorebridge scorebridge
`;
}

function zsh(program: Command): string {
  return `#compdef scorebridge
# scorebridge completion for zsh: add to ~/.zshrc: eval "$(scorebridge completion zsh)"
autoload -U +X bashcompinit && bashcompinit
${bash(program)}`;
}

function fish(program: Command): string {
  const lines = [
    '# scorebridge completion for fish: scorebridge completion fish > ~/.config/fish/completions/scorebridge.fish',
  ];
  for (const e of entries(program)) {
    const words = e.path.split(' ').filter(Boolean);
    const condition =
      words.length === 0 ? '__fish_use_subcommand' : `__fish_seen_subcommand_from ${words.at(-1)}`;
    for (const sub of e.subcommands) {
      const child = entries(program).find((c) => c.path === [...words, sub].join(' '));
      lines.push(
        `complete -c scorebridge -f -n ${quote(condition)} -a ${quote(sub)} -d ${quote(child?.description.split('\n')[0] ?? '')}`,
      );
    }
    for (const o of e.options)
      lines.push(
        `complete -c scorebridge -n ${quote(condition)} -l ${o.flag.slice(2)} -d ${quote(o.description)}`,
      );
  }
  return `${lines.join('\n')}\n`;
}

/** `scorebridge completion bash|zsh|fish`: prints the script for the shell. */
export async function completionCommand(
  shell: 'bash' | 'zsh' | 'fish',
  program: Command,
  io: Io,
): Promise<number> {
  await write(io.stdout, { bash, zsh, fish }[shell](program));
  return EXIT.ok;
}
