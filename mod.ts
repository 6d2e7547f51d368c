/**
 * Dormant: Cloudflare Durable Objects' Hibernatable WebSockets on Deno,
 * self-hosted, on Deno KV. Write an object class (decorated, or ported from
 * Cloudflare), register it in an {@linkcode App}, serve.
 *
 * ```ts ignore
 * import { App, durableObject, onMessage, type WebSocket } from "@dormant/dormant";
 *
 * @durableObject({ name: "echo" })
 * class Echo {
 *   @onMessage
 *   message(ws: WebSocket, text: string | ArrayBuffer) {
 *     ws.send(text);
 *   }
 * }
 *
 * const app = new App({
 *   objects: { ECHO: Echo },
 *   routes: [{ pattern: "/echo/:name", object: "ECHO" }],
 *   kvPath: "./.data/app.sqlite3",
 * });
 * await app.serve({ port: 8000 });
 * ```
 *
 * @module
 */

// The application, routing and serving.
export { App, type AppEnv, type AppStats, type ObjectStats } from "./src/app.ts";
export type { AppOptions, ObjectClass } from "./src/options.ts";
export type { SessionOptions } from "./src/sessions/session_options.ts";
export type { ClusterOptions } from "./src/cluster/cluster_options.ts";
export type { Transport, TransportPeer, TransportStatus } from "./src/cluster/transport.ts";
export {
  BroadcastChannelTransport,
  type BroadcastChannelTransportOptions,
} from "./src/cluster/broadcast_channel_transport.ts";
export {
  KV_TRANSPORT_MAX_MESSAGE,
  KvTransport,
  type KvTransportOptions,
} from "./src/cluster/kv_transport.ts";
export type { ServeOptions, Server } from "./src/http/serve.ts";
export type {
  BeforeHook,
  ExecutionContext,
  ExportedHandler,
  RouteTarget,
} from "./src/http/hooks.ts";
export type { RouteInit } from "./src/http/router.ts";
export type { Upgrader } from "./src/http/upgrade.ts";

// Object classes: decorators and Cloudflare's base class.
export {
  type ClassDecoratorFn,
  durableObject,
  type DurableObjectOptions,
} from "./src/decorators/durable_object.ts";
export {
  type MethodDecoratorFn,
  onAlarm,
  onClose,
  onConnect,
  onError,
  onMessage,
  onPresence,
  onRequest,
  onStart,
} from "./src/decorators/handlers.ts";
export { DurableObject } from "./src/objects/durable_object.ts";

// Ids, namespaces, stubs and state.
export {
  type AnyFunction,
  type DurableObjectNamespace,
  type DurableObjectStub,
} from "./src/objects/namespace.ts";
export { ObjectId } from "./src/objects/object_id.ts";
export type { BroadcastOptions, DurableObjectState } from "./src/objects/object_state.ts";
export type { BroadcastMessage } from "./src/sockets/broadcast.ts";
export {
  MAX_PRESENCE_BYTES,
  type PresenceDiff,
  type PresenceEntry,
  type PresenceOptions,
} from "./src/sockets/presence.ts";
export type { Blocker, HostStatus } from "./src/objects/object_host.ts";
export type { Clock, ClockTimer, TimerOptions } from "./src/clock.ts";

// WebSockets.
export {
  WebSocketPair,
  webSocketResponse,
  type WebSocketResponseInit,
} from "./src/sockets/web_socket_pair.ts";
export { WebSocketRequestResponsePair } from "./src/sockets/web_socket_request_response_pair.ts";
export type {
  ConnectResult,
  ExceptionContext,
  ExceptionHandler,
  WebSocket,
  WebSocketEventListener,
  WebSocketEventMap,
  WebSocketHandlers,
} from "./src/types.ts";

// Storage and alarms.
export type { AlarmInvocationInfo } from "./src/types.ts";
export type {
  ObjectStorage,
  StorageGetOptions,
  StorageListOptions,
  StorageOperations,
  StoragePutOptions,
  StorageTransaction,
} from "./src/storage/object_storage.ts";

// Errors.
export {
  DormantError,
  EventTimeoutError,
  isDormantError,
  KvError,
  ObjectElsewhereError,
  ObjectFullError,
  ObjectMovedError,
  ObjectResetError,
  OwnerUnavailableError,
} from "./src/errors.ts";
