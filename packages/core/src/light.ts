/**
 * `@scorebridge/core/light`: what a command line needs before it knows which command runs — the
 * error family and the names of the shipped layouts — without the parser, the HTTP client or zod,
 * so that `--help` starts at once.
 */
export * from './errors.js';
export { BUILTIN_LAYOUT_NAMES, type BuiltinLayoutName } from './layout/names.js';
