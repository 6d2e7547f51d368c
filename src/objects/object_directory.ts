import type { BroadcastPayload } from "../sockets/broadcast.ts";
import type { Connection } from "../sockets/connection.ts";
import type { PresenceEntry } from "../sockets/presence.ts";
import type { AlarmInvocationInfo } from "../types.ts";
import type { ObjectId } from "./object_id.ts";

/**
 * One object as the callers outside it see it: every event for the object
 * enters here and runs in the object's event order, waking it if it
 * hibernates. The socket events of an accepted connection enter through
 * the socket side of the same seam, `ConnectionOwner` (`onMessage`,
 * `onClose`, `onError`), which the connection holds directly: no lookup
 * per message.
 */
export interface ObjectEndpoint {
  /** The object's id (with its name once it was reached by one). */
  readonly id: ObjectId;
  /** Plain HTTP into the object: `@onRequest`, else `fetch`, else 501. An upgrade goes to `connect`. */
  fetch(request: Request): Promise<Response>;
  /**
   * An upgrade request: `@onConnect`, else `fetch`, else an accept without
   * tags. Resolves to the accepted connection, or the response to send instead.
   */
  connect(request: Request): Promise<Connection | Response>;
  /**
   * Calls the public method `method` with `args` (JS RPC). Arguments and the
   * result are structured-cloned; a thrown error rejects the promise.
   */
  call(method: string, args: readonly unknown[]): Promise<unknown>;
  /** Runs the object's alarm handler (resolves at once when it has none). */
  alarm(info: AlarmInvocationInfo): Promise<void>;
  /**
   * Sends `payload` (already checked and copied once) to every open
   * hibernatable socket of the object, or those with `options.tag`, without
   * waking it: no instance is built, nothing is read, and it takes no place
   * in the event order; each socket's send path (output gate, backpressure)
   * applies. Resolves to how many sockets it was handed to. An endpoint in
   * another process forwards the payload once to the owner.
   */
  broadcast(payload: BroadcastPayload, options?: EndpointBroadcastOptions): Promise<number>;
  /**
   * The presence records of the object's open sockets, oldest accepted
   * first, without waking it: no instance is built, nothing is read, and it
   * takes no place in the event order. Values are structured-clonable (an
   * endpoint in another process returns the owner's list, cloned).
   */
  presence(): Promise<readonly PresenceEntry[]>;
}

/** What a broadcast from outside the object may select by: a tag (sockets are not reachable there). */
export interface EndpointBroadcastOptions {
  /** Only the sockets accepted with this tag. */
  readonly tag?: string;
}

/**
 * Locates the object `id` of the class registered as `namespace` (the
 * binding name) and returns the endpoint that delivers to it. The gateway,
 * the stubs and the alarm scheduler reach objects only through this. The
 * in-process implementation returns the object's host; another one may
 * return a proxy to the process that owns the object.
 */
export interface ObjectDirectory {
  /** The endpoint of object `id` of class `namespace`; the same object for the same id. */
  locate(namespace: string, id: ObjectId): ObjectEndpoint;
}
