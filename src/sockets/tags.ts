/** workerd: `MAX_TAGS_PER_CONNECTION`. */
export const MAX_TAGS = 10;
/** workerd: `MAX_TAG_LENGTH`, counted in UTF-8 bytes. */
export const MAX_TAG_BYTES = 256;

const encoder = new TextEncoder();

/** UTF-8 byte length without allocating for ASCII-only strings. */
export function utf8Length(text: string): number {
  // deno-lint-ignore no-control-regex
  if (!/[^\u0000-\u007f]/.test(text)) return text.length;
  return encoder.encode(text).byteLength;
}

const NO_TAGS: readonly string[] = Object.freeze([]);

/**
 * Validates and normalizes tags as workerd does: `undefined`
 * or `[]` means none; anything but an array is a `TypeError`; elements are
 * `String()`-converted (a Symbol throws); duplicates are dropped keeping the
 * first occurrence; at most 10 distinct tags of at most 256 UTF-8 bytes.
 * Everything is checked before the caller changes any state.
 */
export function normalizeTags(tags: unknown, action = "accept WebSocket"): readonly string[] {
  if (tags === undefined) return NO_TAGS;
  if (!Array.isArray(tags)) {
    throw new TypeError(
      `Cannot ${action} as tags must be an array: current value is ${describe(tags)}`,
    );
  }
  if (tags.length === 0) return NO_TAGS;
  const out: string[] = [];
  const seen = new Set<string>();
  for (const raw of tags) {
    if (typeof raw === "symbol") {
      throw new TypeError(`Cannot ${action} as a tag is a Symbol: tags must be strings`);
    }
    const tag = String(raw);
    if (seen.size >= MAX_TAGS && !seen.has(tag)) {
      throw new RangeError(
        `Cannot ${action} as it has more than ${MAX_TAGS} tags: current count is ${
          new Set(tags.map(String)).size
        }`,
      );
    }
    const bytes = utf8Length(tag);
    if (bytes > MAX_TAG_BYTES) {
      throw new RangeError(
        `Cannot ${action} as a tag exceeds ${MAX_TAG_BYTES} UTF-8 bytes: current size is ${bytes}`,
      );
    }
    if (!seen.has(tag)) {
      seen.add(tag);
      out.push(tag);
    }
  }
  return Object.freeze(out);
}

/**
 * Tags given to remove: an array (else a `TypeError`), elements
 * `String()`-converted (a Symbol throws). No limit applies: removing a tag
 * the socket does not have changes nothing.
 *
 * @example Tags to remove
 * ```ts
 * import { tagArgument } from "./tags.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(tagArgument(["a", 7], "remove tags"), ["a", "7"]);
 * assert.throws(() => tagArgument("a", "remove tags"), TypeError);
 * ```
 */
export function tagArgument(tags: unknown, action: string): string[] {
  if (!Array.isArray(tags)) {
    throw new TypeError(
      `Cannot ${action} as tags must be an array: current value is ${describe(tags)}`,
    );
  }
  return tags.map((raw) => {
    if (typeof raw === "symbol") {
      throw new TypeError(`Cannot ${action} as a tag is a Symbol: tags must be strings`);
    }
    return String(raw);
  });
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "object") return Object.prototype.toString.call(value);
  return typeof value === "string" ? `"${value}"` : String(value);
}
