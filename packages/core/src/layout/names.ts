/** Names of the layouts shipped with ScoreBridge. */
export const BUILTIN_LAYOUT_NAMES = ['scorelink-1600', 'scorelink-legacy-900'] as const;

/** One of {@link BUILTIN_LAYOUT_NAMES}. */
export type BuiltinLayoutName = (typeof BUILTIN_LAYOUT_NAMES)[number];
