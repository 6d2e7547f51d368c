/**
 * The only module that calls `Deno.openKv`. One handle per path per process:
 * a second SQLite handle on the same file in one process gets "database is
 * locked" under concurrent writes (measured on Deno 2.9), so handles are shared
 * and reference counted.
 *
 * @module
 */

import { dirname, resolve } from "node:path";
import { granted } from "./process_info.ts";

interface Shared {
  kv: Promise<Deno.Kv>;
  users: number;
}

const shared = new Map<string, Shared>();
const REMOTE = /^https?:\/\//i;

/** A reference to a shared KV handle; `release()` closes it when the last user leaves. */
export interface KvLease {
  /** The shared handle. */
  readonly kv: Deno.Kv;
  /** Gives the handle back; the last release closes it. */
  release(): void;
}

/**
 * The database an app opens when it was given neither `kv` nor `kvPath`:
 * Deno Deploy's own (`undefined`) when `DENO_DEPLOY=1`, else `":memory:"`.
 * Without env permission the variable is not read (reading would throw
 * `NotCapable`, or prompt in a terminal): the app runs in memory.
 */
export function defaultKvPath(): string | undefined {
  if (!granted({ name: "env", variable: "DENO_DEPLOY" })) return ":memory:";
  return Deno.env.get("DENO_DEPLOY") === "1" ? undefined : ":memory:";
}

/**
 * Opens (or shares) the Deno KV database at `path`. `undefined` opens the
 * default database, which is what Deno Deploy provides; `":memory:"` opens a
 * private in-memory database every time (never shared).
 */
export async function openKv(path: string | undefined): Promise<KvLease> {
  if (path === ":memory:") {
    const kv = await Deno.openKv(":memory:");
    let released = false;
    return {
      kv,
      release(): void {
        if (released) return; // like shared leases: a second release is a no-op
        released = true;
        kv.close();
      },
    };
  }
  // One file, one key: "./a.sqlite3", "a.sqlite3" and "/cwd/a.sqlite3" must share a handle.
  const key = path === undefined ? "\0default" : REMOTE.test(path) ? path : resolve(path);
  let entry = shared.get(key);
  if (!entry) {
    entry = { kv: openFile(path), users: 0 };
    shared.set(key, entry);
  }
  entry.users++;
  const current = entry;
  let kv: Deno.Kv;
  try {
    kv = await current.kv;
  } catch (error) {
    if (shared.get(key) === current) shared.delete(key);
    throw error;
  }
  let released = false;
  return {
    kv,
    release(): void {
      if (released) return;
      released = true;
      if (--current.users === 0) {
        shared.delete(key);
        kv.close();
      }
    },
  };
}

/** Opens a database; for a local file, creates its folder first (`Deno.openKv` does not). */
async function openFile(path: string | undefined): Promise<Deno.Kv> {
  if (path !== undefined && !REMOTE.test(path)) {
    await Deno.mkdir(dirname(resolve(path)), { recursive: true });
  }
  return await Deno.openKv(path);
}
