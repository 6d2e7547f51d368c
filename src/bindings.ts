/**
 * The registered object classes: each binding name (`ROOM`) gets its class's
 * handlers resolved, a storage name, a host table and a namespace. Requests
 * find an object by binding name, alarms by storage name.
 *
 * @module
 */

import { isStorageName } from "./kv/keys.ts";
import { readDefinition } from "./decorators/metadata.ts";
import { resolveHandlers } from "./objects/class_definition.ts";
import { declaredStorageName, warnUnnamed } from "./decorators/storage_name.ts";
import { type ObjectClass, positive } from "./options.ts";
import { HostTable } from "./objects/host_table.ts";
import { presenceConfig } from "./objects/presence_config.ts";
import { DurableObjectNamespace } from "./objects/namespace.ts";
import type { AppRuntime, ClassRuntime } from "./objects/class_runtime.ts";
import { InProcessDirectory } from "./objects/in_process_directory.ts";
import type { GatewayDirectory } from "./http/gateway.ts";
import type { ObjectHost } from "./objects/object_host.ts";
import type { ObjectId } from "./objects/object_id.ts";
import type { Connection } from "./sockets/connection.ts";
import type { SocketRegistry } from "./sockets/socket_registry.ts";
import type { AlarmInvocationInfo } from "./types.ts";

/** The classes of one app, by binding name and by storage name. */
export class Bindings {
  readonly #namespaces = new Map<string, DurableObjectNamespace<unknown>>();
  readonly #byStorageName = new Map<string, DurableObjectNamespace<unknown>>();
  readonly #tables = new Map<string, HostTable>();
  readonly #tablesByStorageName = new Map<string, HostTable>();
  readonly #unnamed: [string, ObjectClass][] = [];

  /**
   * Registers every class of `objects`.
   *
   * @param objects Classes by binding name.
   * @param hibernateAfterMs The app's idle time, for classes that set none.
   * @param app The services every host uses.
   * @param registry The process's socket registry.
   * @param warm Starts the app's KV early (whoever needs it awaits it).
   * @param cluster The directory of a cluster node, made over the tables; in-process without.
   * @throws {TypeError} If a value is not a class, or a storage name is invalid or taken.
   * @throws {RangeError} If a class's `hibernateAfterMs` is out of range.
   */
  constructor(
    objects: Record<string, ObjectClass>,
    hibernateAfterMs: number,
    app: AppRuntime,
    registry: SocketRegistry<Connection>,
    warm: () => void,
    cluster?: (tables: () => ReadonlyMap<string, HostTable>) => GatewayDirectory,
  ) {
    this.directory = cluster?.(() => this.#tables) ?? new InProcessDirectory(this.#tables);
    for (const [binding, ctor] of Object.entries(objects)) {
      if (typeof ctor !== "function") {
        throw new TypeError(
          `Cannot register "${binding}" as it is not a class: current type is ${typeof ctor}`,
        );
      }
      const definition = readDefinition(ctor);
      const named = declaredStorageName(ctor, binding, definition.options?.name);
      if (named === undefined) this.#unnamed.push([binding, ctor]);
      const storageName = named ?? binding;
      if (!isStorageName(storageName)) {
        throw new TypeError(
          `Cannot register "${binding}" as its storage name must be 1-64 characters of [A-Za-z0-9_-]: current value is "${storageName}"`,
        );
      }
      if (this.#byStorageName.has(storageName)) {
        throw new TypeError(
          `Cannot register "${binding}" as storage name "${storageName}" is already used`,
        );
      }
      const runtime: ClassRuntime = {
        binding,
        storageName,
        ctor: ctor as unknown as ClassRuntime["ctor"],
        handlers: resolveHandlers(ctor, binding, definition.handlers),
        hibernate: definition.options?.hibernate ?? true,
        outputGate: definition.options?.outputGate ?? true,
        presence: presenceConfig(ctor, binding, definition.options?.presence),
        resumable: definition.options?.resumable ??
          (ctor as { resumable?: unknown }).resumable === true,
        hibernateAfterMs: positive(
          `${binding} hibernateAfterMs`,
          definition.options?.hibernateAfterMs,
          hibernateAfterMs,
          true,
        ),
        app,
      };
      const table = new HostTable(runtime, registry, warm);
      const namespace = new DurableObjectNamespace<unknown>(this.directory, runtime);
      this.#namespaces.set(binding, namespace);
      this.#tables.set(binding, table);
      this.#byStorageName.set(storageName, namespace);
      this.#tablesByStorageName.set(storageName, table);
    }
  }

  /**
   * Where every event for an object enters: the gateway, the stubs and the
   * alarms reach objects only through it. In one process it is the hosts
   * of the tables above.
   */
  readonly directory: GatewayDirectory;

  /** Namespaces by binding name, in registration order. */
  get namespaces(): ReadonlyMap<string, DurableObjectNamespace<unknown>> {
    return this.#namespaces;
  }

  /** Host tables by binding name. */
  get tables(): ReadonlyMap<string, HostTable> {
    return this.#tables;
  }

  /** Warns about classes without a declared storage name; call once every check passed. */
  warnUnnamed(): void {
    warnUnnamed(this.#unnamed);
  }

  /** Every host in memory. */
  hosts(): ObjectHost[] {
    const out: ObjectHost[] = [];
    for (const table of this.#tables.values()) out.push(...table.hosts());
    return out;
  }

  /** The host of an object, if in memory. */
  hostOf(binding: string, id: ObjectId): ObjectHost | undefined {
    return this.#tables.get(binding)?.peek(id.toString());
  }

  /** The binding name of a storage name. */
  bindingOf(storageName: string): string | undefined {
    return this.#byStorageName.get(storageName)?.binding;
  }

  /** The name an in-memory object's id was derived from. */
  /** The host of object `id` of storage `storageName`, if it is in memory. */
  hostByStorageName(storageName: string, id: string): ObjectHost | undefined {
    return this.#tablesByStorageName.get(storageName)?.peek(id);
  }

  nameOf(storageName: string, id: string): string | undefined {
    return this.#tablesByStorageName.get(storageName)?.peek(id)?.id.name;
  }

  /** Delivers an alarm to its object (waking it); a class no longer registered is skipped. */
  alarm(
    storageName: string,
    id: string,
    info: AlarmInvocationInfo,
    name: string | undefined,
  ): Promise<void> {
    const namespace = this.#byStorageName.get(storageName);
    if (!namespace) return Promise.resolve(); // class no longer registered
    const named = name === undefined ? undefined : namespace.idFromName(name);
    const target = named?.toString() === id ? named : namespace.idFromString(id);
    return this.directory.locate(namespace.binding, target).alarm(info);
  }

  /** The host of a stored resumable session's object (made if needed), if its class is registered. */
  sessionHost(storageName: string, hex: string, name: string | null): ObjectHost | undefined {
    const namespace = this.#byStorageName.get(storageName);
    if (!namespace) return undefined;
    const named = name === null ? undefined : namespace.idFromName(name);
    const id = named?.toString() === hex ? named : namespace.idFromString(hex);
    return this.#tables.get(namespace.binding)!.host(id);
  }

  /** Lists a restored session's socket in its object, as accepted then (nothing of the object runs). */
  restoreSocket(host: object, ws: Connection, tags: readonly string[], at: number): void {
    const owner = host as ObjectHost;
    owner.sockets.accept(owner, ws, tags, Infinity, at);
  }

  /** Drops a host from its table. */
  forget(host: ObjectHost): void {
    this.#tables.get(host.runtime.binding)?.forget(host);
  }
}
