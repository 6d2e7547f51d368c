import type { Connection } from "../sockets/connection.ts";
import type { SocketRegistry } from "../sockets/socket_registry.ts";
import type { ObjectId } from "./object_id.ts";
import type { ClassRuntime } from "./class_runtime.ts";
import { ObjectHost } from "./object_host.ts";

/**
 * The objects of one class that are in memory, by id: what the app and the
 * stubs reach behind a namespace. Kept out of `DurableObjectNamespace`, so
 * nothing of it is reachable from the `env.ROOM` that user code holds.
 */
export class HostTable {
  readonly runtime: ClassRuntime;
  readonly #registry: SocketRegistry<Connection>;
  readonly #hosts = new Map<string, ObjectHost>();
  readonly #ensureReady: () => void;

  constructor(
    runtime: ClassRuntime,
    registry: SocketRegistry<Connection>,
    ensureReady: () => void,
  ) {
    this.runtime = runtime;
    this.#registry = registry;
    this.#ensureReady = ensureReady;
  }

  /** The host for `id`, created on first use; a named `id` tells it its name. */
  host(id: ObjectId): ObjectHost {
    const hex = id.toString();
    let host = this.#hosts.get(hex);
    if (host !== undefined) {
      if (host.id.name === undefined && id.name !== undefined) host.named(id);
    } else {
      this.#ensureReady();
      host = new ObjectHost(
        this.runtime,
        id,
        this.#registry.forObject(`${this.runtime.storageName}/${hex}`),
      );
      this.#hosts.set(hex, host);
    }
    return host;
  }

  /** The host for the id `hex` if it is in memory. */
  peek(hex: string): ObjectHost | undefined {
    return this.#hosts.get(hex);
  }

  /** Every host in memory. */
  hosts(): IterableIterator<ObjectHost> {
    return this.#hosts.values();
  }

  /** Drops a hibernated host with no sockets. */
  forget(host: ObjectHost): void {
    if (this.#hosts.get(host.hex) === host) {
      this.#hosts.delete(host.hex);
      this.#registry.release(`${this.runtime.storageName}/${host.hex}`);
    }
  }
}
