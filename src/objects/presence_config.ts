import type { BroadcastMessage } from "../sockets/broadcast.ts";
import type { PresenceDiff, PresenceEntry, PresenceOptions } from "../sockets/presence.ts";

/** A class's presence option, checked once when the class is registered. */
export interface PresenceConfig {
  /** The attachment's presence (unchecked), or `null` when presence is only set explicitly. */
  readonly from: ((attachment: unknown) => unknown) | null;
  /** The member message sent by the framework after each turn with a change, or `null`. */
  readonly message:
    | ((list: readonly PresenceEntry[], diff: PresenceDiff) => BroadcastMessage | null | undefined)
    | null;
}

/**
 * Reads a class's `presence` option: `@durableObject({ presence })`, or a
 * static `presence` member (for classes without decorators). A string is
 * short for `{ from: string }`. Returns `null` when neither is set.
 *
 * @param ctor The registered class.
 * @param binding Its binding name, for messages.
 * @param decorated The `presence` of its nearest `@durableObject`, if any.
 * @throws {TypeError} If the option is malformed, or both are set.
 *
 * @example A field of the attachment
 * ```ts
 * import { presenceConfig } from "./presence_config.ts";
 * import assert from "node:assert/strict";
 *
 * class Room {
 *   static readonly presence = "user";
 * }
 * const config = presenceConfig(Room, "ROOM", undefined)!;
 * assert.equal(config.from!({ user: "ann", secret: 1 }), "ann");
 * assert.equal(config.message, null);
 * assert.equal(presenceConfig(class {}, "ROOM", undefined), null);
 * ```
 */
export function presenceConfig(
  ctor: object,
  binding: string,
  decorated: string | PresenceOptions | undefined,
): PresenceConfig | null {
  const declared: unknown = (ctor as { presence?: unknown }).presence;
  if (declared !== undefined && decorated !== undefined && declared !== decorated) {
    throw new TypeError(
      `Cannot register "${binding}" as it sets presence both in @durableObject() and as a static member: keep one`,
    );
  }
  const option: unknown = decorated ?? declared;
  if (option === undefined) return null;
  if (typeof option === "string") return { from: field(option), message: null };
  if (typeof option !== "object" || option === null) {
    throw new TypeError(
      `Cannot register "${binding}" as its presence option must be a field name or { from, message }: current type is ${
        option === null ? "null" : typeof option
      }`,
    );
  }
  const { from, message } = option as PresenceOptions;
  if (from !== undefined && typeof from !== "string" && typeof from !== "function") {
    throw new TypeError(
      `Cannot register "${binding}" as presence.from must be a field name or a function of the attachment: current type is ${typeof from}`,
    );
  }
  if (message !== undefined && typeof message !== "function") {
    throw new TypeError(
      `Cannot register "${binding}" as presence.message must be a function (list, diff) => message: current type is ${typeof message}`,
    );
  }
  return {
    from: from === undefined ? null : typeof from === "string" ? field(from) : from,
    message: message ?? null,
  };
}

function field(name: string): (attachment: unknown) => unknown {
  return (attachment) =>
    typeof attachment === "object" && attachment !== null
      ? (attachment as Record<string, unknown>)[name]
      : undefined;
}
