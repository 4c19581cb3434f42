/**
 * The latest result of an asynchronous read, read again at most every `maxAgeMs`: however often
 * (and however many) Prometheus servers scrape, the source is asked once per period, and callers
 * that arrive while a read is under way share it. A failed read counts as a reading (undefined),
 * so that a Redis that is away is not asked again on every scrape either.
 */
export class CachedReading<T> {
  private value: T | undefined;
  private readAt = Number.NEGATIVE_INFINITY;
  private inFlight: Promise<T | undefined> | null = null;

  constructor(
    private readonly read: () => Promise<T>,
    private readonly maxAgeMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get(): Promise<T | undefined> {
    if (this.now() - this.readAt < this.maxAgeMs) return Promise.resolve(this.value);
    this.inFlight ??= this.read()
      .then(
        (value) => value,
        () => undefined,
      )
      .then((value) => {
        this.value = value;
        this.readAt = this.now();
        this.inFlight = null;
        return value;
      });
    return this.inFlight;
  }
}
