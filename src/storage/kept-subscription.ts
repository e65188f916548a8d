/** How often a dropped subscription is looked for and opened again, in ms. */
const RESUBSCRIBE_INTERVAL = 100;
/** After a subscription failed to open, the wait before the next try doubles up to this, in ms. */
const MAX_RESUBSCRIBE_DELAY = 5000;

/**
 * Keeps one subscription to a node open (see NodeMessages.subscribe): opens it now, and again
 * whenever it has dropped. A node that refuses or is down is not asked ten times a second: after
 * each failure in a row the next try waits twice as long, up to 5 s.
 */
export class KeptSubscription {
  private readonly timer: NodeJS.Timeout;
  private failures = 0;
  /** When the next try may start (performance.now()). */
  private nextTry = 0;
  private opening = false;

  /**
   * @param open opens the subscription: resolves once it is open, rejects when it could not be
   * @param isOpen whether the subscription opened last is still open
   */
  constructor(
    private readonly open: () => Promise<void>,
    private readonly isOpen: () => boolean,
  ) {
    this.tryOpen();
    this.timer = setInterval(() => {
      if (!this.opening && !this.isOpen() && performance.now() >= this.nextTry) this.tryOpen();
    }, RESUBSCRIBE_INTERVAL);
    this.timer.unref();
  }

  private tryOpen(): void {
    this.opening = true;
    this.open().then(
      () => {
        this.opening = false;
        this.failures = 0;
      },
      () => {
        this.opening = false;
        this.failures++;
        this.nextTry = performance.now() + Math.min(MAX_RESUBSCRIBE_DELAY, RESUBSCRIBE_INTERVAL * 2 ** this.failures);
      },
    );
  }

  /** Stops opening it again (the caller closes the subscription itself). */
  close(): void {
    clearInterval(this.timer);
  }
}
