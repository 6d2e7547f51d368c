/**
 * {@linkcode Cluster}: what a node adds to an app when it shares its KV with
 * other nodes: the directory that routes each event to the object's owner,
 * the socket bridge, and the node's end of the transport. Built by the app
 * when it has a placement; started with the app and closed at its shutdown.
 *
 * @module
 */

import type { Clock } from "../clock.ts";
import type { Report } from "../exception_sink.ts";
import type { HostTable } from "../objects/host_table.ts";
import type { HostStore, PersistedObject } from "../objects/persisted_object.ts";
import type { HolderLimits } from "./bridge_owner.ts";
import { ClusterDirectory } from "./cluster_directory.ts";
import { ClusterNode } from "./cluster_node.ts";
import type { ClusterOptions } from "./cluster_options.ts";
import { serveRequest } from "./owner_requests.ts";
import type { Placement } from "./placement.ts";
import { SocketBridge } from "./socket_bridge.ts";
import type { BridgeNode } from "./batches.ts";
import type { Resumable, Resume } from "./held_sockets.ts";
import { resumeOn } from "./takeover.ts";
import { unreachableBy } from "./_reach.ts";

/** How a test hands an app its placement (internal: not part of `AppOptions`). */
export const PLACEMENT: unique symbol = Symbol("dormant.placement");

/** Internal cluster knobs a test may pass next to the placement. */
export interface ClusterTuning {
  /**
   * A request without reply after this fails (a safety net: a dead owner is
   * noticed by its missing beats within the lease TTL). @default 60000
   */
  readonly requestTimeoutMs?: number;
  /** How long auto-response timestamps are coalesced before going to the owner. @default 1000 */
  readonly timestampDelayMs?: number;
}

/**
 * `options` with `placement` injected (tests; the app otherwise gets its
 * placement from its lifecycle).
 *
 * @example Usage
 * ```ts ignore
 * new App(withPlacement({ objects, cluster: { transport } }, placement));
 * ```
 */
export function withPlacement<T extends object>(
  options: T,
  placement: Placement,
  tuning: ClusterTuning = {},
): T {
  return { ...options, [PLACEMENT]: { placement, tuning } };
}

/** The injected placement of `options`, if any. */
export function injectedPlacement(
  options: object,
): { placement: Placement; tuning: ClusterTuning } | undefined {
  return (options as { [PLACEMENT]?: { placement: Placement; tuning: ClusterTuning } })[PLACEMENT];
}

/** What the cluster needs from the app. */
export interface ClusterParts {
  readonly options: ClusterOptions;
  readonly tuning: ClusterTuning;
  /** The placement (from the app's start on). */
  placement(): Placement;
  /** The app's start (KV, leases, this cluster's start); every routed call awaits it. */
  ready(): Promise<void>;
  tables(): ReadonlyMap<string, HostTable>;
  readonly clock: Clock;
  readonly report: Report;
  readonly limits: HolderLimits;
  draining(): boolean;
  /** This node's boot id (socket records are keyed by it). */
  boot(): string;
  /** The app's KV (after its start). */
  kv(): Deno.Kv;
  /** The per-object socket cap. */
  readonly maxSockets: number;
}

const NO_NODE: BridgeNode = { send() {}, watch() {}, unwatch() {} };

/** The cluster side of one app. */
export class Cluster {
  readonly directory: ClusterDirectory;
  readonly bridge: SocketBridge;
  readonly #parts: ClusterParts;
  #node: ClusterNode | null = null;
  #started = false;

  constructor(parts: ClusterParts) {
    this.#parts = parts;
    const transport = parts.options.transport;
    const report = (error: unknown, operation: string) =>
      parts.report(error, { namespace: "*", operation });
    const bridgeNode: BridgeNode = {
      send: (to, bytes) => this.#node?.send(to, bytes),
      watch: (node) => this.#node?.watch(node),
      unwatch: (node) => this.#node?.unwatch(node),
    };
    this.bridge = new SocketBridge({
      node: transport ? bridgeNode : NO_NODE,
      clock: parts.clock,
      limits: parts.limits,
      draining: parts.draining,
      timestampDelayMs: parts.tuning.timestampDelayMs ?? 1_000,
      resume: transport ? (socket) => this.#resumeOn(socket) : undefined,
    });
    const placement = () => parts.ready().then(() => parts.placement());
    const owner = {
      tables: () => parts.tables().values(),
      placement,
      bridge: this.bridge,
      kv: parts.kv,
      maxSockets: parts.maxSockets,
      draining: parts.draining,
    };
    this.directory = new ClusterDirectory(parts.tables, {
      placement,
      request: transport
        ? (node, body) => {
          if (this.#node === null) {
            throw new Error("Cannot reach other nodes before the app started");
          }
          return this.#node.request(node, body);
        }
        : null,
      up: () => this.#node?.up ?? false,
      unreachable: transport?.reaches ? unreachableBy(transport, parts.kv) : () => null,
      bridge: this.bridge,
      boot: parts.boot,
    });
    this.#serve = (from, body) => serveRequest(owner, from, body);
    this.#report = report;
  }

  readonly #serve: (from: string, body: unknown) => ReturnType<typeof serveRequest>;
  readonly #report: (error: unknown, operation: string) => void;

  /** Starts listening on the transport (if any) and follows ownership losses. */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    const placement = this.#parts.placement();
    placement.onLost((storage, id) => this.bridge.objectLost(storage, id));
    const transport = this.#parts.options.transport;
    if (!transport) return;
    const node = new ClusterNode({
      node: placement.node,
      transport,
      clock: this.#parts.clock,
      requestTimeoutMs: this.#parts.tuning.requestTimeoutMs ?? 60_000,
      deadMs: this.#parts.options.leaseTtlMs ?? 10_000,
      handlers: {
        serve: this.#serve,
        ops: (from, ops) => this.bridge.receive(from, ops),
        peerDead: (peer, transportDown) => this.bridge.peerDead(peer, transportDown),
        report: this.#report,
      },
    });
    this.#node = node;
    await node.start();
  }

  /**
   * The placement rejoined under a new node id (after a self-fence): the
   * transport moves to it, so other nodes reach the objects claimed from now on.
   */
  async rejoin(): Promise<void> {
    try {
      await this.#node?.rejoin(this.#parts.placement().node);
    } catch (error) {
      this.#report(error, "cluster.rejoin");
    }
  }

  /** A socket whose owner died moves to the object's new owner (see `takeover.ts`). */
  #resumeOn(socket: Resumable): ReturnType<Resume> {
    const node = this.#node;
    if (node === null) return Promise.resolve(null);
    const pauseMs = Math.max(1, Math.floor((this.#parts.options.leaseTtlMs ?? 10_000) / 5));
    return resumeOn({
      placement: this.#parts.placement(),
      request: (to, body) => node.request(to, body),
      boot: this.#parts.boot(),
      pause: () =>
        new Promise<void>((resolve) => void this.#parts.clock.setTimeout(resolve, pauseMs)),
    }, socket);
  }

  /** The store, with auto-response changes pushed to the holders of the object's sockets. */
  watchSettings(store: HostStore): HostStore {
    return {
      ...store,
      markConfig: (object: PersistedObject) => {
        store.markConfig(object);
        const [, , storage, hex] = object.keyBase;
        this.bridge.autoResponseChanged(storage!, hex!, object.autoResponse);
      },
    };
  }

  /** Shutdown: the sockets held here for remote owners close (1001, 1012 on restart). */
  shutdownSockets(restart: boolean): void {
    this.bridge.shutdown(restart);
  }

  /** Sends what is pending and closes the transport. */
  async close(): Promise<void> {
    this.bridge.flush();
    await this.#node?.close();
  }
}
