// Preloaded (node --import) into a benchmarked child: prints its peak RSS and CPU time to stderr
// as it exits.
import { writeSync } from 'node:fs';

process.on('exit', () => {
  const u = process.resourceUsage();
  writeSync(2, `\npeak-rss-kb ${u.maxRSS} cpu-us ${u.userCPUTime + u.systemCPUTime}\n`);
});
