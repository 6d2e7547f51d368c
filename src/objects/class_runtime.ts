import type { Clock } from "../clock.ts";
import type { Connection } from "../sockets/connection.ts";
import type { ObjectStorage, StorageHooks } from "../storage/object_storage.ts";
import type { ExceptionContext } from "../types.ts";
import type { ClassHandlers } from "./class_definition.ts";
import type { ObjectHost } from "./object_host.ts";
import type { ObjectState } from "./object_state.ts";
import type { HostStore } from "./persisted_object.ts";
import type { PresenceConfig } from "./presence_config.ts";

/** Everything a host shares with the other objects of its class and app. */
export interface ClassRuntime {
  readonly binding: string;
  readonly storageName: string;
  readonly ctor: new (ctx: ObjectState, env: unknown) => object;
  readonly handlers: ClassHandlers;
  readonly hibernate: boolean;
  readonly hibernateAfterMs: number;
  /** Hold outgoing messages until pending storage writes are durable. */
  readonly outputGate: boolean;
  /** The class's presence option, or `null`. */
  readonly presence?: PresenceConfig | null;
  /** Resumable sessions for its routes (unless a route says otherwise). */
  readonly resumable: boolean;
  readonly app: AppRuntime;
}

/** App-wide services. */
export interface AppRuntime {
  readonly clock: Clock;
  /** The app's `env` (read when an instance is built). */
  env(): unknown;
  readonly maxMessageBytes: number;
  readonly maxAttachmentBytes: number;
  readonly maxBufferedBytes: number;
  readonly backpressure: "close" | "drop";
  readonly maxSocketsPerObject: number;
  readonly store: HostStore;
  report(error: unknown, context: ExceptionContext): void;
  createStorage(host: ObjectHost, hooks: StorageHooks): ObjectStorage;
  /**
   * Resolves once this node owns the object (claimed if no live node does);
   * rejects with `ObjectElsewhereError` if another live node owns it. Absent:
   * every object is local.
   */
  claim?(host: ObjectHost): Promise<void>;
  /** Whether this node's lease may have lapsed (a stalled event loop): calls `claim` first. */
  stale?(): boolean;
  socketGone(ws: Connection): void;
  forget(host: ObjectHost): void;
}
