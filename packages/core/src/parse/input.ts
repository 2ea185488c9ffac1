/**
 * What the parsers read: a whole body as a string or bytes, or a stream of chunks (an HTTP
 * response, a file stream). Chunks may split a UTF-8 character or a record anywhere.
 */
export type ParseInput =
  | string
  | Uint8Array
  | AsyncIterable<Uint8Array | string>
  | Iterable<Uint8Array | string>;

/** Text encodings a source may use; `utf-8` unless a site knows otherwise. */
export type SourceEncoding = 'utf-8' | 'latin1';

/**
 * Whole inputs are handed to the parser in pieces of this many characters or bytes, like a
 * stream: batches stay small, and so does the number of records alive at once (a parse that
 * keeps tens of thousands of records alive makes V8 allocate all later records in the old
 * generation, which halves throughput for the rest of the process).
 */
const PIECE = 64 * 1024;

/** Decodes any {@link ParseInput} into text chunks, keeping multi-byte characters whole across chunk edges. */
export async function* textChunks(
  input: ParseInput,
  encoding: SourceEncoding = 'utf-8',
): AsyncGenerator<string> {
  if (typeof input === 'string') {
    for (let at = 0; at < input.length; at += PIECE) yield input.slice(at, at + PIECE);
    return;
  }
  const decoder = new TextDecoder(encoding);
  if (input instanceof Uint8Array) {
    for (let at = 0; at < input.length; at += PIECE) {
      const text = decoder.decode(input.subarray(at, at + PIECE), { stream: true });
      if (text.length > 0) yield text;
    }
    const tail = decoder.decode();
    if (tail.length > 0) yield tail;
    return;
  }
  for await (const chunk of input as AsyncIterable<Uint8Array | string>) {
    const text = typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    if (text.length > 0) yield text;
  }
  const tail = decoder.decode();
  if (tail.length > 0) yield tail;
}
