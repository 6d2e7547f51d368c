/**
 * How often each direction of the codec handed a value to `node:v8`
 * (diagnostics and tests).
 *
 * @module
 */

/** Counts of values encoded, and of byte strings decoded, by `node:v8` instead of the codec. */
export const codecStats: { encodeFallbacks: number; decodeFallbacks: number } = {
  encodeFallbacks: 0,
  decodeFallbacks: 0,
};
