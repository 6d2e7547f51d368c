/**
 * {@linkcode Ownership}: what the app does with the placement. A host claims
 * its object before it builds an instance; when the node loses an object (a
 * commit was fenced, or its lease lapsed) it steps down: the instance is
 * dropped, queued calls fail, and the object's sockets here are closed with
 * 1012 so their clients reconnect (to whichever node owns it now).
 *
 * @module
 */

import type { Bindings } from "./bindings.ts";
import type { KvPlacement } from "./cluster/kv_placement.ts";
import type { LossReason } from "./cluster/placement.ts";
import { ObjectElsewhereError, ObjectMovedError } from "./errors.ts";
import type { Report } from "./exception_sink.ts";
import type { ObjectHost } from "./objects/object_host.ts";
import { TERMINATE } from "./sockets/connection_internals.ts";

/** Claims objects for their hosts and steps down from lost ones. */
export class Ownership {
  /** Who owns which object. */
  readonly placement: KvPlacement;
  readonly #objects: () => Bindings;
  readonly #report: Report;

  /**
   * @param placement This node's placement.
   * @param objects The registered classes and their hosts.
   * @param report The app's exception hook.
   */
  constructor(placement: KvPlacement, objects: () => Bindings, report: Report) {
    this.placement = placement;
    this.#objects = objects;
    this.#report = report;
    placement.onLost((storageName, id, reason) => this.#stepDown(storageName, id, reason));
  }

  /**
   * Resolves once this node owns the host's object (claiming it when no live
   * node does).
   *
   * @throws {ObjectElsewhereError} If another live node owns it.
   */
  async claim(host: ObjectHost): Promise<void> {
    const storageName = host.runtime.storageName;
    const where = await this.placement.locate(storageName, host.hex);
    if (!where.local) throw new ObjectElsewhereError(storageName, host.hex, where.node);
  }

  /**
   * Graceful stop: releases every owned object. Resolves to whether another
   * node is live to take the clients over.
   */
  async release(): Promise<boolean> {
    // Objects in memory first: their clients reconnect at once.
    const inMemory = new Set(
      this.#objects().hosts().map((host) => `${host.runtime.storageName}/${host.hex}`),
    );
    await this.placement.release(inMemory);
    return (await this.placement.liveNodes()).length > 0;
  }

  #stepDown(storageName: string, id: string, reason: LossReason): void {
    if (reason === "released") return; // the shutdown closes the sockets itself
    const objects = this.#objects();
    const host = objects.hostByStorageName(storageName, id);
    if (host === undefined || host.disposed) return;
    const error = new ObjectMovedError(storageName, id);
    this.#report(error, {
      namespace: host.runtime.binding,
      id,
      operation: reason === "fenced" ? "fenced" : "lease lost",
    });
    host.queue.failAll(error);
    for (const ws of [...host.list(), ...host.sockets.unlisted()]) {
      ws[TERMINATE](1012, "Object moved to another node");
    }
    host.dispose();
    objects.forget(host);
  }
}
