import { notRpcMethod } from "./class_definition.ts";
import { hashName, ObjectId, parseHex, uniqueHex } from "./object_id.ts";
import type { ClassRuntime } from "./class_runtime.ts";
import type { ObjectDirectory } from "./object_directory.ts";
import { type BroadcastMessage, broadcastPayload, broadcastTag } from "../sockets/broadcast.ts";
import { markNotCloneable } from "../structured_clone/not_cloneable.ts";
import type { PresenceEntry } from "../sockets/presence.ts";

/** Any function; used to pick the methods of an object class for its stub. */
// deno-lint-ignore no-explicit-any
export type AnyFunction = (...args: any[]) => any;

/**
 * A stub: `fetch(request)` plus the object's public methods as async calls
 * (Cloudflare's JS RPC). Arguments and results are structured-cloned.
 */
export type DurableObjectStub<T = unknown> =
  & {
    /** The object's id. */
    readonly id: ObjectId;
    /** The name the id was derived from, if any. */
    readonly name: string | undefined;
    /** Sends an HTTP request to the object's `fetch` / `@onRequest`. */
    fetch(input: Request | string | URL, init?: RequestInit): Promise<Response>;
  }
  & {
    [K in keyof T as T[K] extends AnyFunction ? (K extends "fetch" ? never : K) : never]:
      T[K] extends AnyFunction ? (...args: Parameters<T[K]>) => Promise<Awaited<ReturnType<T[K]>>>
        : never;
  };

/**
 * The directory a namespace's stubs reach their objects through: what a
 * test of the seam, or another implementation of it, wraps.
 */
export let directoryOf: (namespace: DurableObjectNamespace<unknown>) => ObjectDirectory;

/** How many name → id derivations a namespace remembers. */
const ID_CACHE_SIZE = 10_000;

/** Names never callable through a stub. */
const RESERVED = new Set([
  "constructor",
  "then",
  "fetch",
  "alarm",
  "webSocketMessage",
  "webSocketClose",
  "webSocketError",
  "webSocketPresence",
]);

/**
 * A durable object class registered in an app: `env.ROOM`. Makes ids and
 * stubs; at most one live instance per id exists in the process.
 *
 * @example Usage
 * ```ts
 * import { App, DurableObject } from "@dormant/dormant";
 * import assert from "node:assert/strict";
 *
 * class Counter extends DurableObject {
 *   static readonly storageName = "counter";
 *   n = 0;
 *   increment(by: number): number {
 *     return this.n += by;
 *   }
 * }
 * await using app = new App({ objects: { COUNTER: Counter } });
 * const stub = app.env.COUNTER.getByName("a");
 * assert.equal(await stub.increment(2), 2);
 * assert.equal(await stub.increment(3), 5);
 * ```
 */
export class DurableObjectNamespace<T = unknown> {
  readonly #directory: ObjectDirectory;
  readonly #runtime: ClassRuntime;
  // SHA-256 per connect showed in connect-rate profiles; ids are immutable, so cache them.
  readonly #ids = new Map<string, ObjectId>();

  static {
    directoryOf = (namespace) => namespace.#directory;
  }

  /**
   * Created by `App` for each registered class; user code receives it as
   * `env[binding]`. Its stubs reach objects through `directory`.
   */
  constructor(directory: ObjectDirectory, runtime: ClassRuntime) {
    this.#directory = directory;
    this.#runtime = runtime;
  }

  /** The binding name (`ROOM`). */
  get binding(): string {
    return this.#runtime.binding;
  }

  /** The storage name used in KV keys and ids. */
  get storageName(): string {
    return this.#runtime.storageName;
  }

  /** Derives the id for `name`: SHA-256 of the storage name and the name, stable everywhere. */
  idFromName(name: string): ObjectId {
    if (typeof name !== "string") {
      throw new TypeError(
        `Cannot derive an id as the name must be a string: current type is ${typeof name}`,
      );
    }
    let id = this.#ids.get(name);
    if (id === undefined) {
      if (this.#ids.size >= ID_CACHE_SIZE) this.#ids.clear();
      id = new ObjectId(hashName(this.#runtime.storageName, name), name);
      this.#ids.set(name, id);
    }
    return id;
  }

  /** A new random id. */
  newUniqueId(): ObjectId {
    return new ObjectId(uniqueHex());
  }

  /** Parses an id from its 64-hex-character form. */
  idFromString(id: string): ObjectId {
    return new ObjectId(parseHex(id));
  }

  /** A stub for the object with `id`. */
  get(id: ObjectId): DurableObjectStub<T> {
    if (!(id instanceof ObjectId)) {
      throw new TypeError(
        "Cannot get a stub as the id is not an ObjectId: use idFromName() or idFromString()",
      );
    }
    return makeStub<T>(this.#directory, this.#runtime, id);
  }

  /** A stub for the object named `name` (`get(idFromName(name))`). */
  getByName(name: string): DurableObjectStub<T> {
    return this.get(this.idFromName(name));
  }

  /**
   * Sends `message` to every open hibernatable socket of object `id`, or
   * those accepted with `options.tag`, **without waking it**: no constructor
   * runs, nothing is read from KV, and the object's event order is not
   * entered. Each socket gets it through its own send path, so a message the
   * object sent before still goes first, and one held by its output gate
   * holds this one too. The message is checked and copied once, not per
   * socket. Resolves to how many sockets it was sent to (0 when the object
   * has none, which builds nothing either).
   *
   * It lives on the namespace, not on the stub: a stub's keys are the
   * class's RPC methods, and a room class with its own `broadcast` method
   * stays callable as `stub.broadcast(…)`. Cloudflare has no such call.
   *
   * @example Post a notice to a hibernated room from an HTTP handler
   * ```ts
   * import { App, DurableObject, WebSocketPair, webSocketResponse } from "@dormant/dormant";
   * import assert from "node:assert/strict";
   *
   * class Room extends DurableObject {
   *   static readonly storageName = "room";
   *   fetch(): Response {
   *     const pair = new WebSocketPair();
   *     this.ctx.acceptWebSocket(pair[1], ["members"]);
   *     return webSocketResponse(pair[0]);
   *   }
   * }
   * await using app = new App({ objects: { ROOM: Room } });
   * const id = app.env.ROOM.idFromName("lobby");
   * // No socket yet: nothing to send, and no instance was built for it.
   * assert.equal(await app.env.ROOM.broadcast(id, "notice", { tag: "members" }), 0);
   * ```
   */
  broadcast(id: ObjectId, message: BroadcastMessage, options?: { tag?: string }): Promise<number> {
    try {
      if (!(id instanceof ObjectId)) {
        throw new TypeError(
          "Cannot broadcast as the id is not an ObjectId: use idFromName() or idFromString()",
        );
      }
      const payload = broadcastPayload(message);
      const tag = broadcastTag(options?.tag);
      return this.#directory.locate(this.#runtime.binding, id).broadcast(
        payload,
        tag === undefined ? undefined : { tag },
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * The presence records of object `id`'s open sockets, oldest accepted
   * first, as `{ id, value }` (the socket's connection id and its record),
   * **without waking it**: no constructor runs and nothing is read from KV.
   * Sockets without a record are left out; an object without sockets gives
   * `[]` and builds nothing. `T` types the values (no check). Like
   * `broadcast`, it lives on the namespace so a class's own `presence` RPC
   * method stays callable on the stub.
   *
   * @example Who is in a room, from an HTTP handler
   * ```ts
   * import { App, DurableObject } from "@dormant/dormant";
   * import assert from "node:assert/strict";
   *
   * class Room extends DurableObject {
   *   static readonly storageName = "room";
   *   static readonly presence = "user";
   * }
   * await using app = new App({ objects: { ROOM: Room } });
   * const members = await app.env.ROOM.presence<string>(app.env.ROOM.idFromName("lobby"));
   * assert.deepEqual(members, []);
   * ```
   */
  // deno-lint-ignore no-explicit-any
  presence<P = any>(id: ObjectId): Promise<PresenceEntry<P>[]> {
    if (!(id instanceof ObjectId)) {
      return Promise.reject(
        new TypeError(
          "Cannot read presence as the id is not an ObjectId: use idFromName() or idFromString()",
        ),
      );
    }
    try {
      return this.#directory.locate(this.#runtime.binding, id).presence() as Promise<
        PresenceEntry<P>[]
      >;
    } catch (error) {
      return Promise.reject(error);
    }
  }
}
markNotCloneable(DurableObjectNamespace.prototype, "DurableObjectNamespace");

function makeStub<T>(
  directory: ObjectDirectory,
  runtime: ClassRuntime,
  id: ObjectId,
): DurableObjectStub<T> {
  const binding = runtime.binding;
  const base = {
    id,
    name: id.name,
    fetch(input: Request | string | URL, init?: RequestInit): Promise<Response> {
      const request = input instanceof Request && init === undefined
        ? input
        : new Request(input, init);
      return directory.locate(binding, id).fetch(request);
    },
  };
  return new Proxy(base, {
    get(target, key) {
      if (typeof key === "symbol") return undefined;
      if (Object.hasOwn(target, key)) return target[key as keyof typeof target];
      if (RESERVED.has(key)) return undefined;
      const refused = notRpcMethod(runtime.handlers, binding, key);
      if (refused) return () => Promise.reject(refused);
      return (...args: unknown[]) => directory.locate(binding, id).call(key, args);
    },
  }) as unknown as DurableObjectStub<T>;
}
