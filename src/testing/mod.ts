/**
 * Test tools for objects: a manual clock to drive idle time and alarms, a
 * way to hibernate an object now, and a small WebSocket client that queues
 * what it receives. No real seconds are slept.
 *
 * @example Hibernate an object on demand
 * ```ts
 * import { App, DurableObject } from "@dormant/dormant";
 * import { hibernateNow, ManualClock, objectStatus } from "@dormant/dormant/testing";
 * import assert from "node:assert/strict";
 *
 * class Counter extends DurableObject {
 *   static readonly storageName = "counter";
 *   n = 0;
 *   add(): number {
 *     return ++this.n;
 *   }
 * }
 * const clock = new ManualClock();
 * await using app = new App({ objects: { COUNTER: Counter }, clock });
 * const stub = app.env.COUNTER.getByName("a");
 * assert.equal(await stub.add(), 1);
 * await hibernateNow(app, "COUNTER", stub.id);
 * assert.equal(objectStatus(app, "COUNTER", stub.id), "hibernated");
 * assert.equal(await stub.add(), 1); // a fresh instance
 * ```
 *
 * @module
 */

import { appInternals } from "../_app_internals.ts";
import type { App } from "../app.ts";
import type { ObjectId } from "../objects/object_id.ts";
import type { HostStatus } from "../objects/object_host.ts";
import { MemoryBackend } from "../storage/memory_backend.ts";
import { Storage } from "../storage/storage.ts";
import type { ObjectStorage } from "../storage/object_storage.ts";

export { ManualClock } from "./manual_clock.ts";
export { type TestClient, testClient } from "./test_client.ts";

/**
 * Drops the object's instance now, keeping its sockets open, as an idle
 * period would; what changed is flushed to KV first.
 *
 * @param app The app.
 * @param namespace The binding name.
 * @param id The object's id.
 * @throws {Error} If the object is busy (an event, request or `waitUntil` is pending).
 *
 * @example Usage
 * ```ts ignore
 * await hibernateNow(app, "ROOM", app.env.ROOM.idFromName("lobby"));
 * ```
 */
export async function hibernateNow(app: App, namespace: string, id: ObjectId): Promise<void> {
  const host = appInternals.get(app)?.hostOf(namespace, id);
  if (host) await host.hibernate();
}

/**
 * The object's status, or `"hibernated"` when it is not in memory at all.
 *
 * @param app The app.
 * @param namespace The binding name.
 * @param id The object's id.
 * @returns `"active"`, `"waking"` or `"hibernated"`.
 *
 * @example Usage
 * ```ts ignore
 * assert.equal(objectStatus(app, "ROOM", id), "active");
 * ```
 */
export function objectStatus(app: App, namespace: string, id: ObjectId): HostStatus {
  return appInternals.get(app)?.hostOf(namespace, id)?.status ?? "hibernated";
}

/**
 * Writes the app's write-behind buffer to KV now.
 *
 * @param app The app.
 *
 * @example Usage
 * ```ts ignore
 * await flushNow(app);
 * ```
 */
export function flushNow(app: App): Promise<void> {
  return appInternals.get(app)!.flush();
}

/**
 * An in-memory `ObjectStorage` with the same semantics and limits as
 * `ctx.storage` (coalescing, transactions, structured-clone copies), for unit
 * tests of code that takes a storage. Its alarm is a record that never fires.
 *
 * @returns A fresh, empty storage.
 *
 * @example Usage
 * ```ts
 * import { createMemoryStorage } from "@dormant/dormant/testing";
 * import assert from "node:assert/strict";
 *
 * const storage = createMemoryStorage();
 * await storage.put({ a: 1, b: 2 });
 * assert.deepEqual([...(await storage.list()).keys()], ["a", "b"]);
 * ```
 */
export function createMemoryStorage(): ObjectStorage {
  return new Storage({ backend: new MemoryBackend() });
}
