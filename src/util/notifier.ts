/** Wakes every waiter when something changed: a minimal condition variable for async loops. */
export class Notifier {
  private waiters: (() => void)[] = [];

  public wait(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  public notify(): void {
    // Called for every fragment queued and sent, mostly with nobody waiting: no new array then.
    if (this.waiters.length === 0) {
      return;
    }
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) {
      wake();
    }
  }
}
