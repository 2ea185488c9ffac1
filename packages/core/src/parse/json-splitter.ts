import { ParseError } from '../errors.js';

/**
 * Cuts a streamed `{ "data": [ … ] }` body (or a bare top-level array) into the source text of
 * each array element, holding only the element being read. Each element is then parsed on its
 * own with `JSON.parse`, so one bad element is one issue, not a lost response.
 */
export class JsonDataSplitter {
  #buf = '';
  #pos = 0;
  #depth = 0;
  #inString = false;
  #escaped = false;
  #phase: 'seek' | 'array' | 'element' | 'done' = 'seek';
  #elementStart = -1;
  #keyStart = -1;
  #lastKey: string | undefined;
  #expectData = false;
  #elements = 0;
  readonly #topKeys: string[] = [];

  /** How many elements have been completed. */
  get count(): number {
    return this.#elements;
  }

  /** Feeds text; returns the source text of every element it completed. */
  push(text: string): string[] {
    // Keep what is still being read: an element, or a top-level key cut by the chunk edge.
    let keepFrom = this.#phase === 'element' ? this.#elementStart : this.#pos;
    if (this.#keyStart >= 0) keepFrom = Math.min(keepFrom, this.#keyStart);
    this.#buf = this.#buf.slice(keepFrom) + text;
    this.#pos -= keepFrom;
    if (this.#elementStart >= 0) this.#elementStart -= keepFrom;
    if (this.#keyStart >= 0) this.#keyStart -= keepFrom;
    const out: string[] = [];
    const buf = this.#buf;
    for (let i = this.#pos; i < buf.length; i++) {
      const c = buf.charCodeAt(i);
      if (this.#inString) {
        if (this.#escaped) this.#escaped = false;
        else if (c === 92) this.#escaped = true;
        else if (c === 34) {
          this.#inString = false;
          if (this.#keyStart >= 0) {
            this.#lastKey = buf.slice(this.#keyStart + 1, i);
            this.#keyStart = -1;
          }
        }
        continue;
      }
      if (c === 32 || c === 10 || c === 13 || c === 9) continue;
      if (this.#phase === 'done') continue;
      if (this.#phase === 'array') {
        if (c === 44) continue;
        if (c === 93) {
          this.#depth--;
          this.#phase = 'done';
          continue;
        }
        this.#phase = 'element';
        this.#elementStart = i;
      }
      if (c === 34) {
        this.#inString = true;
        if (this.#phase === 'seek' && this.#depth === 1) this.#keyStart = i;
        continue;
      }
      if (this.#phase === 'element' && this.#depth === this.#arrayDepth && (c === 44 || c === 93)) {
        // A primitive element (not an object) ends at the next comma or bracket.
        out.push(buf.slice(this.#elementStart, i).trim());
        this.#elements++;
        this.#elementStart = -1;
        this.#phase = 'array';
        i--;
        continue;
      }
      if (c === 123 || c === 91) {
        this.#opened = true;
        this.#depth++;
        if (this.#phase === 'seek') {
          if (this.#depth === 1 && c === 91) this.#enterArray();
          else if (this.#expectData && this.#depth === 2 && c === 91) this.#enterArray();
          this.#expectData = false;
        }
      } else if (c === 125 || c === 93) {
        this.#depth--;
        if (this.#phase === 'element' && this.#depth === this.#arrayDepth) {
          out.push(buf.slice(this.#elementStart, i + 1));
          this.#elements++;
          this.#elementStart = -1;
          this.#phase = 'array';
        }
      } else if (this.#phase === 'seek' && this.#depth === 1) {
        if (c === 58 && this.#lastKey !== undefined) {
          this.#topKeys.push(this.#lastKey);
          this.#expectData = this.#lastKey === 'data';
          this.#lastKey = undefined;
        } else if (c !== 44) this.#expectData = false;
      }
    }
    this.#pos = buf.length;
    return out;
  }

  /** Ends the body; throws a {@link ParseError} when no data array was found or it was cut off. */
  end(): void {
    if (!this.#opened)
      throw new ParseError(
        'the body is not JSON: it holds no object or array (an empty body or a message?)',
      );
    if (this.#phase === 'seek') {
      const keys =
        this.#topKeys.length > 0 ? ` (its top-level keys: ${this.#topKeys.join(', ')})` : '';
      throw new ParseError(`the JSON response has no "data" array${keys}`);
    }
    if (this.#phase !== 'done') {
      throw new ParseError(
        `the JSON response ended inside its "data" array after ${this.#elements} records (a truncated body?)`,
        { truncated: true },
      );
    }
  }

  #arrayDepth = 0;
  /** Whether an object or array began at all (a body of plain text never does). */
  #opened = false;

  #enterArray(): void {
    this.#phase = 'array';
    this.#arrayDepth = this.#depth;
  }
}
