import type { Clock, ClockTimer } from "../clock.ts";

/**
 * The idle period of an object: it may hibernate `afterMs` after its last
 * activity. Also counts the `ctx.waitUntil()` promises that keep it awake.
 */
export class IdleTimer {
  readonly #clock: Clock;
  readonly #afterMs: number;
  readonly #fire: () => void;
  #lastActivity = 0;
  #timer: ClockTimer | null = null;
  #waiting = 0;

  /**
   * `ctx.waitUntil(promise)`: keeps the object awake until `promise` settles;
   * a rejection goes to `failed` first, then `settled` runs.
   */
  keepAwake(
    promise: Promise<unknown>,
    failed: (error: unknown) => void,
    settled: () => void,
  ): void {
    this.#waiting++;
    const end = () => {
      this.#waiting--;
      settled();
    };
    Promise.resolve(promise).then(end, (error) => {
      failed(error);
      end();
    });
  }

  /** `fire` runs when the armed timer expires. */
  constructor(clock: Clock, afterMs: number, fire: () => void) {
    this.#clock = clock;
    this.#afterMs = afterMs;
    this.#fire = fire;
  }

  /** `waitUntil` promises not settled yet. */
  get waiting(): number {
    return this.#waiting;
  }

  /** Something happened: the idle period starts now. */
  touch(): void {
    this.#lastActivity = this.#clock.now();
  }

  /** Milliseconds left of the idle period (0 or less: it is over). */
  remaining(): number {
    return this.#lastActivity + this.#afterMs - this.#clock.now();
  }

  /** Whether the timer is armed. */
  get armed(): boolean {
    return this.#timer !== null;
  }

  /** Arms the timer for the end of the idle period. */
  arm(): void {
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = null;
      this.#fire();
    }, Math.max(0, this.remaining()));
  }

  /** Disarms the timer. */
  stop(): void {
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
  }
}
