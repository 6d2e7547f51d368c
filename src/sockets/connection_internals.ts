/**
 * The framework's handles on a {@linkcode Connection}: module symbols, never
 * exported from the package, so nothing handed to users has a string-keyed
 * internal member (`Object.keys`, `for…in` and autocompletion show only the
 * `WebSocket` API).
 *
 * @module
 */

/** Marks a connection accepted by `ctx.acceptWebSocket()` (hibernatable): `(owner, tags, now)`. */
export const ACCEPT_HIBERNATABLE: unique symbol = Symbol("dormant.acceptHibernatable");
/** Gives an `accept()`ed connection its owner, when the upgrade binds it. */
export const ADOPT: unique symbol = Symbol("dormant.adopt");
/** Whether the connection was accepted with `accept()` (not hibernatable). */
export const PLAIN: unique symbol = Symbol("dormant.plain");
/** Whether `acceptWebSocket()` or `accept()` already took this connection. */
export const ACCEPTED: unique symbol = Symbol("dormant.accepted");
/** The listeners of an event type, in order (`once` ones removed). */
export const LISTENERS: unique symbol = Symbol("dormant.listeners");
/** Socket id, unique in this process; names the socket's KV record. */
export const SID: unique symbol = Symbol("dormant.sid");
/** Connection id: the process start's prefix and the socket id (`ctx.getConnectionId()`). */
export const CONNECTION_ID: unique symbol = Symbol("dormant.connectionId");
/** The accepting object, once accepted (`null` before). */
export const OWNER: unique symbol = Symbol("dormant.owner");
/**
 * Where the socket's records live when another node holds it: `[boot, sid]`
 * (the holder's boot, so they die with the holder's lease); `null` for a
 * socket of this process.
 */
export const RECORD_KEY: unique symbol = Symbol("dormant.recordKey");
/** Normalized, frozen tags. */
export const TAGS: unique symbol = Symbol("dormant.tags");
/** The presence record: a frozen copy, `null` for none (`ctx.setPresence()`). */
export const PRESENCE: unique symbol = Symbol("dormant.presence");
/** When `acceptWebSocket()` ran (clock time). */
export const ACCEPTED_AT: unique symbol = Symbol("dormant.acceptedAt");
/** Last auto-response match (clock time), 0 for never. */
export const AUTO_RESPONSE_AT: unique symbol = Symbol("dormant.autoResponseAt");
/** Dirty bits for the write-behind store (a plain field the store reads and clears). */
export const DIRTY: unique symbol = Symbol("dormant.dirty");
/** The serialized attachment: bytes, `null` for none, `undefined` while unloaded (in KV only). */
export const ATTACHMENT: unique symbol = Symbol("dormant.attachment");
/** Drops the attachment bytes from memory once they are safely in KV. */
export const UNLOAD_ATTACHMENT: unique symbol = Symbol("dormant.unloadAttachment");
/** Restores attachment bytes read back from KV (only while unloaded). */
export const LOAD_ATTACHMENT: unique symbol = Symbol("dormant.loadAttachment");
/** Whether the socket was upgraded and bound to a runtime socket. */
export const BOUND: unique symbol = Symbol("dormant.bound");
/** Binds the upgraded runtime socket: `(socket, url, protocol)`. */
export const BIND: unique symbol = Symbol("dormant.bind");
/** The upgrade failed: drop the queue and report a 1006 close. */
export const FAIL_UPGRADE: unique symbol = Symbol("dormant.failUpgrade");
/** Closes without waiting for the client and without any further event: `(code, reason)`. */
export const TERMINATE: unique symbol = Symbol("dormant.terminate");
/** The bound runtime socket opened: `(socket)`. */
export const SOCKET_OPEN: unique symbol = Symbol("dormant.socketOpen");
/** A data message from the bound runtime socket: `(data)`. */
export const SOCKET_MESSAGE: unique symbol = Symbol("dormant.socketMessage");
/** A protocol error of the bound runtime socket: `(message)`. */
export const SOCKET_ERROR: unique symbol = Symbol("dormant.socketError");
/** The bound runtime socket closed, code already mapped: `(code, reason, wasClean)`. */
export const SOCKET_CLOSE: unique symbol = Symbol("dormant.socketClose");
/** The session of a resumable socket (`SessionHook`), or `null`. */
export const SESSION: unique symbol = Symbol("dormant.session");
/** Sends on the socket's own path, bypassing its session: `(message)`. */
export const RELEASE: unique symbol = Symbol("dormant.release");
/** Ends the connection but keeps the socket open and listed (a detached session): `(code, reason)`. */
export const DETACH: unique symbol = Symbol("dormant.detach");
/** Takes the messages queued before the upgrade (a session logs them): `() => unknown[]`. */
export const TAKE_QUEUED: unique symbol = Symbol("dormant.takeQueued");
