import type { HostTable } from "./host_table.ts";
import type { ObjectHost } from "./object_host.ts";
import type { ObjectId } from "./object_id.ts";
import type { ObjectDirectory } from "./object_directory.ts";

/**
 * The {@linkcode ObjectDirectory} of one process: every object lives here,
 * and `locate` returns its host (made on first use).
 */
export class InProcessDirectory implements ObjectDirectory {
  readonly #tables: ReadonlyMap<string, HostTable>;

  /** `tables`: the host table of each registered class, by binding name (read on each call). */
  constructor(tables: ReadonlyMap<string, HostTable>) {
    this.#tables = tables;
  }

  /** The host of object `id` of class `namespace`, made on first use. */
  locate(namespace: string, id: ObjectId): ObjectHost {
    const table = this.#tables.get(namespace);
    if (table === undefined) {
      throw new TypeError(`Cannot locate an object of "${namespace}": no class has that binding`);
    }
    return table.host(id);
  }
}
