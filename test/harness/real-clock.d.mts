/** The environment without a shifted test clock (libfaketime's variables), for services the harness starts. */
export function realClockEnv(env?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
