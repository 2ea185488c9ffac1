/**
 * The environment for a service the harness starts (redis-server, sshd), without a shifted test
 * clock: `.ci/run` runs the suites a second time under libfaketime, which the test processes
 * and the scorebridge processes they spawn share, but which redis-server cannot run under
 * (it aborts on libfaketime's recursive clock_gettime guard). Services keep the real clock.
 */
export function realClockEnv(env = process.env) {
  const out = { ...env };
  for (const name of Object.keys(out))
    if (name === 'LD_PRELOAD' || name.startsWith('FAKETIME')) delete out[name];
  return out;
}
