/**
 * Who owns socket records: the process facts a boot lease carries, read
 * without extra permissions where possible. Where they cannot be read (no
 * `/proc`, no read permission, Deno Deploy) only the lease's heartbeat
 * counts.
 *
 * @module
 */

/**
 * Whether `permission` is granted, asked without prompting: reading a file or
 * a variable without permission throws `NotCapable`, and in a terminal first
 * prompts the user, for a fact the framework can do without.
 */
export function granted(permission: Deno.PermissionDescriptor): boolean {
  try {
    return Deno.permissions.querySync(permission).state === "granted";
  } catch {
    return false; // no permissions API (some hosted runtimes)
  }
}

/** An id of this machine's current boot, or `null` when unknown. */
export function machineId(): string | null {
  if (!granted({ name: "read", path: "/proc/sys/kernel/random/boot_id" })) return null;
  try {
    return Deno.readTextFileSync("/proc/sys/kernel/random/boot_id").trim() || null;
  } catch {
    return null;
  }
}

/** Whether a process with `pid` runs on this machine; `null` when it cannot be told. */
export function processAlive(pid: number): boolean | null {
  if (!granted({ name: "read", path: `/proc/${pid}` })) return null;
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
