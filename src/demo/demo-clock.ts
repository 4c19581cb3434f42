/**
 * The demo's time. The demo starts with a history of some weeks (demo-history.ts), played through
 * the real services, which all judge by one injected clock (docs/decisions/0006-clocks.md). This is
 * that clock: it starts `spanMs` before the real clock, moves forward while the history is played,
 * and once it is played it is the real clock. It never goes back: the history ends before the real
 * time it started from.
 */
export class DemoClock {
  /** The time while the history plays; null once played (then the real clock). */
  private playhead: number | null;
  /** When the history ends: the real time at which the demo clock was made. */
  readonly end: number;
  /** When the history starts. */
  readonly start: number;
  /** The clock to give every service. */
  readonly now: () => number;

  constructor(
    private readonly real: () => number,
    spanMs: number,
  ) {
    this.end = real();
    this.start = this.end - spanMs;
    this.playhead = this.start;
    this.now = () => this.playhead ?? this.real();
  }

  /** True while the history plays. */
  get playing(): boolean {
    return this.playhead !== null;
  }

  /** Moves the history's time forward to `at` (not past its end); a time already passed is a bug. */
  advance(at: number): void {
    if (this.playhead === null)
      throw new Error('the demo history has been played: its clock is the real one');
    if (at < this.playhead) throw new RangeError(`the demo clock never goes back (${at} < ${this.playhead})`);
    this.playhead = Math.min(at, this.end);
  }

  /** The history is played: from now on this is the real clock. */
  finish(): void {
    this.playhead = null;
  }
}
