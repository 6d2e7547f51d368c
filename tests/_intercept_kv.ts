/**
 * Wraps a real `Deno.Kv` so a test can intercept its I/O: delay or fail
 * commits, see what an atomic contains, hold or count reads. Everything not
 * intercepted goes to the real handle; atomic operations keep chaining on
 * the wrapper.
 */

/** One call made on an atomic operation before its commit (`set`, `delete`, `check`, …). */
export interface AtomicCall {
  readonly method: string;
  /** The first argument: the key for `set`/`delete`/`sum`, the entry for `check`. */
  readonly first: unknown;
}

/** What to do around the real calls; each hook decides whether and when to call through. */
export interface KvInterceptors {
  /** Called for every `atomic()` created. */
  atomic?(): void;
  /** Replaces `commit()`: call `commit` to perform it; `calls` are the atomic's mutations. */
  commit?(
    commit: () => Promise<Deno.KvCommitResult | Deno.KvCommitError>,
    calls: readonly AtomicCall[],
  ): Promise<Deno.KvCommitResult | Deno.KvCommitError>;
  /** Replaces `get` and `getMany`: call `read` to perform it. */
  read?(
    method: "get" | "getMany",
    args: readonly unknown[],
    read: () => Promise<unknown>,
  ): Promise<unknown>;
  /** Called for every `list()` (the iterator is the real one). */
  list?(args: readonly unknown[]): void;
  /**
   * Also intercept ownership bookkeeping: reads and commits that only touch
   * node leases and owner records (`["dormant", "boot" | "own", …]`). Off by
   * default, so a test that holds or fails storage I/O still lets objects be claimed.
   */
  ownership?: boolean;
}

function isOwnershipKey(key: unknown): boolean {
  return Array.isArray(key) && key[0] === "dormant" && (key[1] === "own" || key[1] === "boot");
}

function onlyOwnership(calls: readonly AtomicCall[]): boolean {
  return calls.length > 0 && calls.every((call) =>
    isOwnershipKey(
      call.method === "check" ? (call.first as { key?: unknown } | undefined)?.key : call.first,
    )
  );
}

/** A `Deno.Kv` whose commits and reads go through `hooks`. */
export function interceptKv(kv: Deno.Kv, hooks: KvInterceptors): Deno.Kv {
  return new Proxy(kv, {
    get(target, prop) {
      if (prop === "atomic") {
        return () => {
          hooks.atomic?.();
          return interceptAtomic(target.atomic(), hooks);
        };
      }
      if ((prop === "get" || prop === "getMany") && hooks.read) {
        const method = prop;
        return (...args: unknown[]) => {
          const keys = method === "get" ? [args[0]] : args[0] as unknown[];
          if (!hooks.ownership && keys.every(isOwnershipKey)) {
            return (Reflect.get(target, method) as (...a: unknown[]) => Promise<unknown>).apply(
              target,
              args,
            );
          }
          return hooks.read!(
            method,
            args,
            () =>
              (Reflect.get(target, method) as (...a: unknown[]) => Promise<unknown>).apply(
                target,
                args,
              ),
          );
        };
      }
      if (prop === "list" && hooks.list) {
        return (...args: unknown[]) => {
          hooks.list!(args);
          return (target.list as (...a: unknown[]) => Deno.KvListIterator<unknown>).apply(
            target,
            args,
          );
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

function interceptAtomic(op: Deno.AtomicOperation, hooks: KvInterceptors): Deno.AtomicOperation {
  const calls: AtomicCall[] = [];
  const proxy: Deno.AtomicOperation = new Proxy(op, {
    get(target, prop) {
      if (prop === "commit") {
        return () =>
          hooks.commit && (hooks.ownership || !onlyOwnership(calls))
            ? hooks.commit(() => target.commit(), calls)
            : target.commit();
      }
      const value = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        calls.push({ method: String(prop), first: args[0] });
        const result = value.apply(target, args);
        return result === target ? proxy : result; // keep chaining on the wrapper
      };
    },
  });
  return proxy;
}
