// `node:v8`, for the rare values and byte strings the codec does not handle
// itself (class instances, nesting deeper than MAX_DEPTH, V8's own view
// encoding, …). Each `serialize` call costs native memory (see encode.ts).

import { deserialize, serialize } from "node:v8";
import { codecStats } from "./codec_stats.ts";
import { assertCloneable } from "./not_cloneable.ts";

/** `v8.serialize`, after refusing platform objects that it would write as `{}`. */
export function v8Encode(value: unknown): Uint8Array {
  codecStats.encodeFallbacks++;
  assertCloneable(value);
  return serialize(value);
}

/**
 * `v8.deserialize` on a copy (its typed arrays alias their input); its error
 * becomes a DataCloneError that says the bytes were unreadable.
 */
export function v8Decode(bytes: Uint8Array): unknown {
  codecStats.decodeFallbacks++;
  try {
    return deserialize(bytes.slice());
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new DOMException(
      `Could not deserialize value: neither the codec nor node:v8 reads these ${bytes.length} bytes (${reason})`,
      "DataCloneError",
    );
  }
}
