/**
 * The runner's waiting: read-your-writes callers waiting (bounded) until every SQL
 * projection has applied a position (the runner calls `notify` whenever positions
 * advance), and the runner's own backoff sleeps, which stop() and restarts cut short.
 */
interface Waiter {
  position: bigint;
  resolve(reached: boolean): void;
  timer: NodeJS.Timeout;
}

export class Waiters {
  readonly #waiters = new Set<Waiter>();
  readonly #reached: (position: bigint) => boolean;

  /** `reached(position)`: whether every SQL projection has applied `position`. */
  constructor(reached: (position: bigint) => boolean) {
    this.#reached = reached;
  }

  /** Resolves true once `position` is reached, false after `timeoutMs` or on `cancelAll`. */
  wait(position: bigint, timeoutMs: number): Promise<boolean> {
    if (this.#reached(position)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        position,
        resolve,
        timer: setTimeout(() => this.#settle(waiter, false), timeoutMs),
      };
      this.#waiters.add(waiter);
    });
  }

  notify(): void {
    for (const waiter of [...this.#waiters]) if (this.#reached(waiter.position)) this.#settle(waiter, true);
  }

  cancelAll(): void {
    for (const waiter of [...this.#waiters]) this.#settle(waiter, false);
  }

  #settle(waiter: Waiter, reached: boolean): void {
    if (!this.#waiters.delete(waiter)) return;
    clearTimeout(waiter.timer);
    waiter.resolve(reached);
  }
}

/** Sleeps that `wakeAll` ends at once. */
export class Sleeps {
  readonly #wakers = new Set<() => void>();

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.#wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#wakers.add(wake);
    });
  }

  wakeAll(): void {
    for (const wake of [...this.#wakers]) wake();
  }
}
