import type { Clock, ClockTimer } from "../clock.ts";
import { HANDLER_NAMES, type SocketEventKind } from "./event_queue.ts";

/** What a generation reports to the object it counts for. */
export interface GenerationOwner {
  /** Something that kept the object busy ended: the idle period starts now. */
  settle(): void;
  /** Reports a handler failure. */
  report(error: unknown, operation: string): void;
}

/** Where the input gate of a generation is opened again. */
export interface Gate {
  /** One close of this (live, current) generation's input gate ended. */
  openGate(generation: Generation): void;
}

/**
 * One instance's lifetime and everything counted for it; callbacks are made
 * once per generation, not per event. A reset or hibernation marks it dead:
 * from then on its counts keep nothing busy and its late releases (a handler
 * settling, a `blockConcurrencyWhile` ending, a storage operation completing)
 * change nothing, as the next instance counts in a generation of its own.
 */
export class Generation {
  dead = false;
  /** Async socket handlers not settled yet. */
  inflight = 0;
  /** `blockConcurrencyWhile` callbacks running. */
  blocking = 0;
  /** Storage operations with I/O in flight. */
  storageOps = 0;
  /** Closes of the input gate: `blocking + storageOps`; events wait while above 0. */
  gate = 0;
  /** Event timeouts and `blockConcurrencyWhile` caps, cleared when the generation ends. */
  readonly timers: Set<ClockTimer> = new Set();
  /** An async handler or listener of this generation settled. */
  readonly settled: () => void;
  /** An async handler of this generation failed, by socket event kind. */
  readonly failed: Readonly<Record<SocketEventKind, (error: unknown) => void>>;
  /** Opens the input gate closed by one storage operation of this generation. */
  readonly storageDone: () => void;

  constructor(owner: GenerationOwner, gate: Gate) {
    this.settled = () => {
      if (this.dead) return;
      this.inflight--;
      owner.settle();
    };
    const failed = (kind: SocketEventKind) => (error: unknown) => {
      if (this.dead) return;
      this.inflight--;
      owner.report(error, HANDLER_NAMES[kind]);
      owner.settle();
    };
    this.failed = { message: failed("message"), close: failed("close"), error: failed("error") };
    this.storageDone = () => {
      if (this.dead) return;
      this.storageOps--;
      gate.openGate(this);
    };
  }

  /** Marks the generation dead and stops its timers (the event timeouts of abandoned handlers). */
  end(clock: Clock): void {
    this.dead = true;
    for (const timer of this.timers) clock.clearTimeout(timer);
    this.timers.clear();
  }

  /** Starts a timer that is cleared when the generation ends; `fire` runs only while it lives. */
  setTimer(clock: Clock, ms: number, fire: () => void): ClockTimer {
    const timer = clock.setTimeout(() => {
      this.timers.delete(timer);
      fire();
    }, ms);
    this.timers.add(timer);
    return timer;
  }

  /** Stops a timer started with {@linkcode Generation.setTimer}. */
  clearTimer(clock: Clock, timer: ClockTimer): void {
    clock.clearTimeout(timer);
    this.timers.delete(timer);
  }
}
