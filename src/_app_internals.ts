/**
 * What `./testing` reaches inside an app, registered by the `App` constructor:
 * a module-level map, so nothing internal is reachable on an `App` instance.
 *
 * @module
 */

import type { ObjectHost } from "./objects/object_host.ts";
import type { ObjectId } from "./objects/object_id.ts";

/** The internals of one app. */
export interface AppInternals {
  /** The host of an object, if in memory. */
  hostOf(namespace: string, id: ObjectId): ObjectHost | undefined;
  /** Flushes write-behind now. */
  flush(): Promise<void>;
}

/** Every app's internals, by app. */
export const appInternals: WeakMap<object, AppInternals> = new WeakMap();
