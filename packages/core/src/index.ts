/** The zod an adapter's options schema is made with: the same copy the pipeline schema is. */
export { z } from 'zod';
export { type CsvOptions, neutralizeFormula, recordsToCsv } from './csv.js';
export type {
  CheckReport,
  DeliveryBatch,
  Destination,
  DestinationAdapter,
  DestinationContext,
  DestinationLogger,
  DestinationUsage,
  RecordOutcome,
} from './destination.js';
export {
  ADAPTER_CONTRACT,
  adapterProblems,
  defineAdapter,
  noScoreLinkLine,
  outcomesInOrder,
  silentLogger,
  splitForScoreLink,
} from './destination.js';
export {
  ConfigError,
  DestinationError,
  describeError,
  ERROR_KINDS,
  type ErrorKind,
  ParseError,
  ScoreBridgeError,
  type ScoreBridgeErrorOptions,
  type SerializedError,
  SourceError,
  serializeError,
} from './errors.js';
export {
  type DiscoverInput,
  type Discovery,
  discoverLayout,
  type PlacedField,
  type UnexplainedSpan,
  type UnplacedKey,
} from './layout/discover.js';
export { layoutFromSpreadsheetCsv, type SpreadsheetImportOptions } from './layout/import-csv.js';
export {
  applyOverride,
  FIELD_TYPES,
  type FieldType,
  type Layout,
  type LayoutField,
  type LayoutOverride,
  layoutFieldSchema,
  layoutOverrideSchema,
  layoutProblems,
  layoutSchema,
  RESERVED_FIELD_IDS,
} from './layout/layout.js';
export {
  BUILTIN_LAYOUT_NAMES,
  type BuiltinLayoutName,
  builtinLayout,
  defaultLayouts,
  layoutFromJson,
  loadLayoutFile,
  resolveLayouts,
} from './layout/load.js';
export { formatRecord } from './parse/format.js';
export { holdRecord, readLine, restoreRecord } from './parse/held.js';
export { type ParseInput, type SourceEncoding, textChunks } from './parse/input.js';
export type { ParsedEntry, ParseIssue, ParseIssueCode } from './parse/issues.js';
export { type JsonMapping, JsonRecordMapper, normalizeKey } from './parse/json.js';
export { JsonDataSplitter } from './parse/json-splitter.js';
export { type ParseOptions, parseAll, parseRecords, type ResponseFormat } from './parse/parse.js';
export { ScoreLinkParser, type ScoreLinkParserOptions } from './parse/scorelink.js';
export type { ScoreLinkFields } from './record/fields.generated.js';
export {
  buildRecord,
  type CanonicalRecord,
  type CompiledLayout,
  compileLayout,
  IBT26_START_DATE,
  RECORD_KEY_FIELDS,
  REQUIRED_KEY_FIELDS,
  type RecordFields,
  type ScoreRecord,
  type ScoreScale,
  toCanonicalJson,
} from './record/record.js';
export { UPDATE_CLASSES, type UpdateClass, updateClass, versionDigest } from './record/update.js';
export { dateValue, type FieldValue, rawValue, scoreValue, textValue } from './record/values.js';
export {
  backoffDelay,
  DEFAULT_RETRY_POLICY,
  isRetryable,
  pause,
  RETRYABLE_KINDS,
  type RetryPolicy,
} from './retry.js';
export { Secret, secretSchema } from './secret.js';
export {
  createToeflAccessClient,
  type SourceEvent,
  type SourceStats,
  type ToeflAccessClient,
  type ToeflAccessClientOptions,
} from './toefl-access/client.js';
export { formatEtsDate, parseIsoInput } from './toefl-access/dates.js';
export { errorText, sourceErrorFor, TOEFL_ACCESS_ERRORS } from './toefl-access/source-errors.js';
export {
  PACE_RECORDS,
  planSlices,
  SLICE_OVERLAP_MS,
  type Slice,
  SlicePacer,
} from './toefl-access/windows.js';
