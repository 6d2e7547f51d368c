import type { Clock } from "../clock.ts";
import { ObjectResetError } from "../errors.ts";
import type { StorageHooks } from "../storage/object_storage.ts";
import type { Generation } from "./generation.ts";

/** How long a `blockConcurrencyWhile` callback may run before the object is reset. */
export const BLOCK_CONCURRENCY_LIMIT_MS = 30_000;

/** What the input gate needs of the object; implemented by `ObjectHost`. */
export interface GateTarget {
  /** The current instance's generation. */
  readonly generation: Generation;
  readonly clock: Clock;
  /** The event queue, which holds events while the input gate is closed. */
  readonly queue: {
    closeGate(generation: Generation): void;
    openGate(generation: Generation): void;
  };
  /** Discards the instance after a failure. */
  reset(error: unknown, operation: string): void;
}

/** What the storage of the object needs besides the input gate; implemented by `ObjectHost`. */
export interface StorageGateTarget extends GateTarget {
  /** The class: `outputGate` tells whether outgoing messages wait for pending writes. */
  readonly runtime: { readonly outputGate: boolean };
  readonly output: OutputGate;
  report(error: unknown, operation: string): void;
  /** One KV commit carried this object's writes (for stats). */
  countCommit(): void;
}

/**
 * Cloudflare's output gate: messages sent after a write wait until it is
 * durable. `pending` is what outgoing messages wait for, or `null`.
 */
export class OutputGate {
  /** The writes outgoing messages wait for, or `null` when none is pending. */
  pending: Promise<unknown> | null = null;

  /** Holds outgoing messages until `commit` settled too. */
  hold(commit: Promise<unknown>): void {
    const previous = this.pending;
    const gate: Promise<unknown> = previous === null ? commit : Promise.all([previous, commit]);
    this.pending = gate;
    const clear = () => {
      if (this.pending === gate) this.pending = null;
    };
    gate.then(clear, clear);
  }
}

/**
 * The hooks the object's storage reports to: each operation with I/O closes
 * the input gate of the generation that started it; each write may hold
 * outgoing messages. A failed write is reported once and resets the
 * instance, as its memory may reflect the lost write; messages held behind
 * it are never sent.
 */
export function storageHooks(target: StorageGateTarget): StorageHooks {
  return {
    inputGate: {
      close: () => {
        const gen = target.generation;
        gen.storageOps++;
        target.queue.closeGate(gen);
        return gen.storageDone;
      },
    },
    trackWrite: (commit) => {
      const gen = target.generation;
      commit.catch((error) => {
        if (gen.dead) target.report(error, "storage write");
        else target.reset(error, "storage write");
      });
      if (target.runtime.outputGate) target.output.hold(commit);
    },
    onCommit: () => target.countCommit(),
  };
}

/**
 * `ctx.blockConcurrencyWhile(fn)`: runs `fn` with the input gate closed, so
 * every other event waits. A rejection or the 30 s cap resets the instance.
 */
export function blockConcurrency<T>(target: GateTarget, fn: () => T | Promise<T>): Promise<T> {
  const gen = target.generation;
  const clock = target.clock;
  gen.blocking++;
  target.queue.closeGate(gen);
  const timer = gen.setTimer(clock, BLOCK_CONCURRENCY_LIMIT_MS, () => reject(timeoutError()));
  let reject!: (error: unknown) => void;
  const capped = new Promise<T>((resolve, rejectCapped) => {
    reject = rejectCapped;
    Promise.resolve().then(fn).then(resolve, rejectCapped);
  });
  const end = () => {
    gen.clearTimer(clock, timer);
    if (gen.dead) return; // a discarded instance's block: the current gate is not its own
    gen.blocking--;
    target.queue.openGate(gen);
  };
  const result = capped.then(
    (value) => {
      end();
      return value;
    },
    (error) => {
      end();
      if (!gen.dead) target.reset(error, "blockConcurrencyWhile");
      throw error;
    },
  );
  // A constructor cannot await it (Cloudflare's idiom): the failure is reported by the
  // reset above, and an ignored rejection must not crash the process.
  result.catch(() => {});
  return result;
}

function timeoutError(): ObjectResetError {
  return new ObjectResetError(
    `blockConcurrencyWhile() callback exceeded ${BLOCK_CONCURRENCY_LIMIT_MS} ms`,
  );
}
