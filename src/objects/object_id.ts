import { createHash, randomBytes } from "node:crypto";
import { markNotCloneable } from "../structured_clone/not_cloneable.ts";
import { isObjectId } from "../kv/keys.ts";

/**
 * Identifies one object within a namespace: 64 lowercase hex characters.
 *
 * @example Usage
 * ```ts
 * import { App, DurableObject } from "@dormant/dormant";
 * import assert from "node:assert/strict";
 *
 * class Room extends DurableObject {
 *   static readonly storageName = "room";
 * }
 * await using app = new App({ objects: { ROOM: Room } });
 * const id = app.env.ROOM.idFromName("lobby");
 * assert.equal(id.toString().length, 64);
 * assert.equal(id.name, "lobby");
 * assert.ok(id.equals(app.env.ROOM.idFromString(id.toString())));
 * ```
 */
export class ObjectId {
  readonly #hex: string;
  /** The name it was derived from, when made with `idFromName`. */
  readonly name: string | undefined;

  /** @internal Use the namespace's `idFromName`, `newUniqueId` or `idFromString`. */
  constructor(hex: string, name?: string) {
    this.#hex = hex;
    this.name = name;
  }

  /** The 64-hex-character form. */
  toString(): string {
    return this.#hex;
  }

  /** Whether both ids name the same object. */
  equals(other: ObjectId): boolean {
    return other instanceof ObjectId && other.#hex === this.#hex;
  }
}
markNotCloneable(ObjectId.prototype, "DurableObjectId");

/** SHA-256 of the storage name and the name: deterministic across restarts and processes. */
export function hashName(storageName: string, name: string): string {
  return createHash("sha256").update(storageName).update("\0").update(name).digest("hex");
}

/** 32 random bytes, hex. */
export function uniqueHex(): string {
  return randomBytes(32).toString("hex");
}

/** Validates the string form of an id. */
export function parseHex(value: unknown): string {
  if (!isObjectId(value)) {
    throw new TypeError(
      `Cannot parse object id as it must be 64 lowercase hex characters: current value is ${
        typeof value === "string" ? `"${value.slice(0, 80)}"` : typeof value
      }`,
    );
  }
  return value;
}
