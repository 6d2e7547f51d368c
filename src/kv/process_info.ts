/**
 * Who owns socket records: the process facts a boot lease carries, read
 * without extra permissions where possible. Where they cannot be read (no
 * `/proc`, no read permission, Deno Deploy) only the lease's heartbeat
 * counts.
 *
 * @module
 */

/** An id of this machine's current boot, or `null` when unknown. */
export function machineId(): string | null {
  try {
    return Deno.readTextFileSync("/proc/sys/kernel/random/boot_id").trim() || null;
  } catch {
    return null;
  }
}

/** Whether a process with `pid` runs on this machine; `null` when it cannot be told. */
export function processAlive(pid: number): boolean | null {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch (error) {
    return error instanceof Deno.errors.NotFound ? false : null;
  }
}

/** This process's id. */
export function currentPid(): number {
  return Deno.pid;
}
