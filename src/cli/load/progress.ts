/**
 * The progress line of a load run. Hand-written, not a dependency: one line redrawn in place on a
 * TTY (`\r` + erase line), a plain line every few seconds otherwise, both on stderr so stdout stays
 * the summary alone.
 */
import type { LoadStats } from './report.js';

export class Progress {
  readonly #stats: LoadStats;
  readonly #limit: number | null;
  readonly #durationMs: number | null;
  readonly #tty = process.stderr.isTTY;
  #timer: NodeJS.Timeout | null = null;
  #drawn = false;

  constructor(stats: LoadStats, bounds: { limit: number | null; durationMs: number | null }) {
    this.#stats = stats;
    this.#limit = bounds.limit;
    this.#durationMs = bounds.durationMs;
  }

  start(): void {
    this.#timer = setInterval(() => this.#draw(), this.#tty ? 200 : 2_000);
    this.#timer.unref();
  }

  finish(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    if (this.#tty && this.#drawn) process.stderr.write('\r\u001b[2K');
    else if (!this.#tty) this.#draw();
  }

  #draw(): void {
    const stats = this.#stats;
    const elapsedMs = stats.elapsedMs;
    const done = stats.completed + stats.failed;
    const fractions = [
      this.#limit === null ? 0 : done / this.#limit,
      this.#durationMs === null ? 0 : elapsedMs / this.#durationMs,
    ];
    const fraction = Math.min(1, Math.max(...fractions));
    const seconds = elapsedMs / 1000;
    // With --duration the run is measured against time (and --processes is only a cap).
    const against =
      this.#durationMs === null
        ? `${done}/${this.#limit ?? '?'} done, ${seconds.toFixed(1)} s`
        : `${seconds.toFixed(1)}/${this.#durationMs / 1000} s, ${done} done` +
          (this.#limit === null ? '' : ` (at most ${this.#limit})`);
    const text =
      `${against}, ${stats.failed} failed, ` +
      `${(stats.started / Math.max(seconds, 1e-3)).toFixed(1)} starts/s, ` +
      `${(stats.liveVerified / 1e6 / Math.max(seconds, 1e-3)).toFixed(1)} MB/s`;
    if (this.#tty) {
      const width = 24;
      const filled = Math.round(fraction * width);
      const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
      process.stderr.write(`\r\u001b[2K${bar} ${Math.floor(fraction * 100)}% ${text}`);
      this.#drawn = true;
    } else {
      process.stderr.write(`load: ${Math.floor(fraction * 100)}% ${text}\n`);
    }
  }
}
