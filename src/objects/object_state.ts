import { ObjectResetError } from "../errors.ts";
import { Connection } from "../sockets/connection.ts";
import {
  AUTO_RESPONSE_AT,
  CONNECTION_ID,
  PRESENCE,
  TAGS,
} from "../sockets/connection_internals.ts";
import { normalizeTags, tagArgument, utf8Length } from "../sockets/tags.ts";
import { type BroadcastMessage, broadcastPayload, broadcastTag } from "../sockets/broadcast.ts";
import type { ObjectStorage } from "../storage/object_storage.ts";
import type { WebSocket } from "../types.ts";
import { WebSocketRequestResponsePair } from "../sockets/web_socket_request_response_pair.ts";
import type { ObjectId } from "./object_id.ts";
import type { ObjectSettings } from "./object_settings.ts";
import type { ObjectSockets } from "./object_sockets.ts";
import { markNotCloneable } from "../structured_clone/not_cloneable.ts";
import type { ObjectPresence } from "./object_presence.ts";
import { type PresenceEntry, presenceValue } from "../sockets/presence.ts";

/** Auto-response request and response limit, in UTF-8 bytes (workerd). */
export const MAX_AUTO_RESPONSE_BYTES = 2048;
/** Longest event timeout: 7 days. */
export const MAX_EVENT_TIMEOUT_MS = 604_800_000;

/**
 * Cloudflare's `DurableObjectState`, the `ctx` every object receives. Names
 * and signatures follow Cloudflare's, so ported code runs unchanged.
 */
export interface DurableObjectState {
  /** This object's id. */
  readonly id: ObjectId;
  /** Transactional storage on Deno KV. */
  readonly storage: ObjectStorage;
  /** Accepts a socket (the server end of a pair) with up to 10 tags. */
  acceptWebSocket(ws: WebSocket, tags?: string[]): void;
  /** Open sockets, oldest first; the array is frozen and shared until membership changes. */
  getWebSockets(tag?: string): readonly WebSocket[];
  /** The socket's tags: those it was accepted with, or the last ones set. */
  getTags(ws: WebSocket): string[];
  /**
   * Replaces a socket's tags (beyond Cloudflare, where tags are fixed at
   * accept); returns them normalized as `acceptWebSocket` does (≤ 10
   * distinct, ≤ 256 UTF-8 bytes each, else a RangeError and no change).
   * `getWebSockets(tag)` reflects it at once; it survives hibernation.
   *
   * @example Move a socket to another channel
   * ```ts ignore
   * this.ctx.setTags(ws, ["channel:news"]);
   * ```
   */
  setTags(ws: WebSocket, tags: string[]): string[];
  /**
   * Adds tags a socket does not have yet, after its current ones; the result
   * must still fit the limits of `setTags`. Returns the socket's tags.
   *
   * @example Mark a socket as a moderator
   * ```ts ignore
   * this.ctx.addTags(ws, ["moderator"]);
   * for (const mod of this.ctx.getWebSockets("moderator")) mod.send("report");
   * ```
   */
  addTags(ws: WebSocket, tags: string[]): string[];
  /**
   * Removes the given tags from a socket (absent ones are ignored). Returns
   * the socket's tags.
   *
   * @example Leave a channel
   * ```ts ignore
   * this.ctx.removeTags(ws, ["channel:news"]);
   * ```
   */
  removeTags(ws: WebSocket, tags: string[]): string[];
  /**
   * A stable id of a socket accepted by this object (beyond Cloudflare): the
   * same string while the socket is open and across hibernation, unique per
   * process start (a random prefix per process, then a counter).
   *
   * @example Address members by id
   * ```ts ignore
   * const id = this.ctx.getConnectionId(ws);
   * ws.serializeAttachment({ id, name: "ann" });
   * ```
   */
  getConnectionId(ws: WebSocket): string;
  /** Sets (or, with no argument, `undefined` or `null`, clears) the auto-response. */
  setWebSocketAutoResponse(pair?: WebSocketRequestResponsePair | null): void;
  /** The current auto-response, a new object per call, or `null`. */
  getWebSocketAutoResponse(): WebSocketRequestResponsePair | null;
  /** When `ws` last matched the auto-response, or `null`. */
  getWebSocketAutoResponseTimestamp(ws: WebSocket): Date | null;
  /** Sets (0, `undefined` or `null` clears) how long a WebSocket handler may run. */
  setHibernatableWebSocketEventTimeout(timeoutMs?: number | null): void;
  /** The event timeout, or `null` when unset. */
  getHibernatableWebSocketEventTimeout(): number | null;
  /** Runs `fn` with every other event held back (30 s cap). */
  blockConcurrencyWhile<T>(fn: () => T | Promise<T>): Promise<T>;
  /** Keeps the object awake until `promise` settles; a rejection goes to `onException`. */
  waitUntil(promise: Promise<unknown>): void;
  /**
   * Dormant's own (Cloudflare has none): sends `message` to every open
   * hibernatable socket, or those with `options.tag`, except `options.except`
   * (a socket or a list of them); returns how many it was sent to. The
   * message is copied once, not per socket, and each send takes the socket's
   * path (output gate, backpressure). The namespace's `broadcast(id, …)` does
   * the same from outside without waking the object.
   *
   * @example Everyone but the sender
   * ```ts ignore
   * webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
   *   this.ctx.broadcast(message, { except: ws });
   * }
   * ```
   */
  broadcast(message: BroadcastMessage, options?: BroadcastOptions): number;
  /**
   * Dormant's own: sets the presence record of a socket this object accepted
   * (`null` or `undefined` removes it). The value is structured-cloned and
   * frozen, at most `MAX_PRESENCE_BYTES` (1,024) serialized bytes, else a
   * RangeError and no change. It is kept with the socket, survives
   * hibernation, and leaves with the socket when it closes or drops. A
   * class's `presence.from` option sets it from the attachment instead.
   *
   * @example Name a member
   * ```ts ignore
   * this.ctx.setPresence(ws, { name: "ann", color: "teal" });
   * ```
   */
  setPresence(ws: WebSocket, value: unknown): void;
  /**
   * Every open socket's presence record, oldest accepted first, as
   * `{ id, value }` (`id` is `getConnectionId(ws)`; sockets without a record
   * are left out); with a socket, that socket's record or `null`. Values are
   * frozen copies; `T` types them (no check). The namespace's
   * `presence(id)` reads the same list from outside without waking the object.
   *
   * @example Who is here
   * ```ts ignore
   * const names = this.ctx.getPresence<{ name: string }>().map((m) => m.value.name);
   * ```
   */
  // deno-lint-ignore no-explicit-any
  getPresence<T = any>(): PresenceEntry<T>[];
  /**
   * One socket's presence record (a frozen copy), or `null` when it has
   * none; `T` types it (no check).
   *
   * @example A member's name
   * ```ts ignore
   * const me = this.ctx.getPresence<{ name: string }>(ws);
   * if (me) ws.send(`you are ${me.name}`);
   * ```
   */
  // deno-lint-ignore no-explicit-any
  getPresence<T = any>(ws: WebSocket): T | null;
}

/** Which sockets `ctx.broadcast()` reaches. */
export interface BroadcastOptions {
  /** Only the sockets accepted with this tag. */
  tag?: string;
  /** A socket, or sockets, left out (the sender, say). */
  except?: WebSocket | readonly WebSocket[];
}

/** What `ctx` needs from the host; implemented by `ObjectHost`. */
export interface StateHost {
  readonly id: ObjectId;
  readonly storage: ObjectStorage;
  /** The auto-response and event timeout; setting one persists it. */
  readonly settings: ObjectSettings;
  accept(ws: Connection, tags: unknown): void;
  list(tag?: string): readonly Connection[];
  /** The object's sockets, which outlive instances: retagging and broadcasts go through them. */
  readonly sockets: Pick<ObjectSockets, "retag" | "broadcast">;
  /** The sockets' presence records. */
  readonly presences: Pick<ObjectPresence, "set" | "list">;
  owns(ws: Connection): boolean;
  blockConcurrencyWhile<T>(fn: () => T | Promise<T>): Promise<T>;
  waitUntil(promise: Promise<unknown>): void;
}

/** A generation of an instance; dead once the instance was discarded. */
export interface Liveness {
  readonly dead: boolean;
}

/** The `ctx` of one instance. Every method throws once the instance was discarded. */
export class ObjectState implements DurableObjectState {
  readonly #host: StateHost;
  readonly #life: Liveness;

  constructor(host: StateHost, life: Liveness) {
    this.#host = host;
    this.#life = life;
  }

  #live(): StateHost {
    if (this.#life.dead) {
      throw new ObjectResetError(
        "Cannot use ctx of a discarded instance: the object was reset or hibernated; use the current instance",
      );
    }
    return this.#host;
  }

  get id(): ObjectId {
    return this.#host.id;
  }

  get storage(): ObjectStorage {
    return this.#live().storage;
  }

  acceptWebSocket(ws: WebSocket, tags?: string[]): void {
    const host = this.#live();
    if (!(ws instanceof Connection)) {
      throw new TypeError(
        "Cannot accept WebSocket as parameter 1 is not a server-side WebSocket: pass pair[1] of a WebSocketPair",
      );
    }
    host.accept(ws, tags);
  }

  getWebSockets(tag?: string): readonly WebSocket[] {
    return this.#live().list(tag === undefined ? undefined : String(tag));
  }

  getTags(ws: WebSocket): string[] {
    return [...this.#owned(ws, "get tags")[TAGS]];
  }

  setTags(ws: WebSocket, tags: string[]): string[] {
    const socket = this.#owned(ws, "set tags");
    return this.#retag(socket, normalizeTags(tagArgument(tags, "set tags"), "set tags"));
  }

  addTags(ws: WebSocket, tags: string[]): string[] {
    const socket = this.#owned(ws, "add tags");
    const added = tagArgument(tags, "add tags");
    return this.#retag(socket, normalizeTags([...socket[TAGS], ...added], "add tags"));
  }

  removeTags(ws: WebSocket, tags: string[]): string[] {
    const socket = this.#owned(ws, "remove tags");
    const removed = new Set(tagArgument(tags, "remove tags"));
    return this.#retag(socket, Object.freeze(socket[TAGS].filter((tag) => !removed.has(tag))));
  }

  getConnectionId(ws: WebSocket): string {
    return this.#owned(ws, "get the connection id")[CONNECTION_ID];
  }

  /** `ws` if this object accepted it with `acceptWebSocket()`, else a TypeError. */
  #owned(ws: WebSocket, action: string): Connection {
    const host = this.#live();
    if (!(ws instanceof Connection) || !host.owns(ws)) {
      throw new TypeError(
        `Cannot ${action} as the WebSocket was not accepted by this object: call acceptWebSocket() first`,
      );
    }
    return ws;
  }

  #retag(ws: Connection, tags: readonly string[]): string[] {
    this.#host.sockets.retag(ws, tags);
    return [...tags];
  }

  setWebSocketAutoResponse(pair?: WebSocketRequestResponsePair | null): void {
    const host = this.#live();
    if (pair === undefined || pair === null) {
      if (host.settings.autoResponse === null) return; // unchanged: nothing to persist
      return host.settings.setAutoResponse(null);
    }
    if (!(pair instanceof WebSocketRequestResponsePair)) {
      throw new TypeError(
        "Cannot set auto-response as parameter 1 is not a WebSocketRequestResponsePair",
      );
    }
    const request = pair.request;
    const response = pair.response;
    for (const [what, text] of [["request", request], ["response", response]] as const) {
      const size = utf8Length(text);
      if (size > MAX_AUTO_RESPONSE_BYTES) {
        throw new RangeError(
          `Cannot set auto-response as the ${what} exceeds ${MAX_AUTO_RESPONSE_BYTES} UTF-8 bytes: current size is ${size}`,
        );
      }
    }
    const current = host.settings.autoResponse;
    // Cloudflare code sets it in the constructor, i.e. on every wake: unchanged costs no KV write.
    if (current !== null && current.request === request && current.response === response) return;
    host.settings.setAutoResponse(Object.freeze({ request, response }));
  }

  getWebSocketAutoResponse(): WebSocketRequestResponsePair | null {
    const auto = this.#live().settings.autoResponse;
    return auto === null ? null : new WebSocketRequestResponsePair(auto.request, auto.response);
  }

  getWebSocketAutoResponseTimestamp(ws: WebSocket): Date | null {
    this.#live();
    if (!(ws instanceof Connection) || ws[AUTO_RESPONSE_AT] === 0) return null;
    return new Date(ws[AUTO_RESPONSE_AT]);
  }

  setHibernatableWebSocketEventTimeout(timeoutMs?: number | null): void {
    const host = this.#live();
    if (timeoutMs !== undefined && timeoutMs !== null && typeof timeoutMs !== "number") {
      // Number() would turn 10n into 10 and "2500" into 2500: only numbers are milliseconds.
      throw new TypeError(
        `Cannot set event timeout as it must be a number of milliseconds (or null to clear it): current type is ${typeof timeoutMs}`,
      );
    }
    const ms = timeoutMs ?? 0;
    if (!Number.isFinite(ms) || ms < 0) {
      throw new TypeError(
        `Cannot set event timeout as it must be a non-negative integer: current value is ${timeoutMs}`,
      );
    }
    const whole = Math.trunc(ms);
    if (whole > MAX_EVENT_TIMEOUT_MS) {
      throw new RangeError(
        `Cannot set event timeout as it exceeds ${MAX_EVENT_TIMEOUT_MS} ms: current value is ${whole}`,
      );
    }
    if (host.settings.eventTimeoutMs === whole) return; // unchanged: nothing to persist
    host.settings.setEventTimeout(whole);
  }

  getHibernatableWebSocketEventTimeout(): number | null {
    const ms = this.#live().settings.eventTimeoutMs;
    return ms === 0 ? null : ms;
  }

  blockConcurrencyWhile<T>(fn: () => T | Promise<T>): Promise<T> {
    return this.#live().blockConcurrencyWhile(fn);
  }

  waitUntil(promise: Promise<unknown>): void {
    this.#live().waitUntil(promise);
  }

  broadcast(message: BroadcastMessage, options?: BroadcastOptions): number {
    const host = this.#live();
    const payload = broadcastPayload(message);
    const tag = broadcastTag(options?.tag);
    const except = options?.except;
    if (except === undefined || except === null) return host.sockets.broadcast(payload, tag);
    const skipped = new Set<unknown>(Array.isArray(except) ? except : [except]);
    for (const ws of skipped) {
      if (!(ws instanceof Connection)) {
        throw new TypeError(
          "Cannot broadcast as except must be a WebSocket or an array of WebSockets",
        );
      }
    }
    return host.sockets.broadcast(payload, tag, skipped);
  }

  setPresence(ws: WebSocket, value: unknown): void {
    if (arguments.length < 2) {
      throw new TypeError("Cannot set presence as no value was given: pass null to remove it");
    }
    const socket = this.#owned(ws, "set presence");
    this.#host.presences.set(socket, presenceValue(value, "set presence"));
  }

  // deno-lint-ignore no-explicit-any
  getPresence<T = any>(): PresenceEntry<T>[];
  // deno-lint-ignore no-explicit-any
  getPresence<T = any>(ws: WebSocket): T | null;
  getPresence(ws?: WebSocket): unknown {
    if (arguments.length === 0) return this.#live().presences.list();
    return this.#owned(ws!, "get presence")[PRESENCE];
  }
}
markNotCloneable(ObjectState.prototype, "DurableObjectState");
