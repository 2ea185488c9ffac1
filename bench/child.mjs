// Runs a benchmark script in a child process (so its peak RSS is its own) and returns the JSON
// it prints.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export async function runChild(script, args, env = process.env) {
  const path = fileURLToPath(new URL(script, import.meta.url));
  const proc = spawn(process.execPath, [path, ...args], {
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  for await (const chunk of proc.stdout) out += chunk;
  return JSON.parse(out);
}
