/**
 * A stream (a spawned process's stdout or stderr) read line by line as it arrives, with waits
 * that have a deadline:
 * - `until(ms, ready)`: true as soon as `ready(lines)` holds, false at the deadline or when the
 *   stream ends first (the caller decides what a miss means);
 * - `waitFor(what, ms, ready)`: the first value `ready(lines)` gives that is neither `undefined`
 *   nor `false`; throws, describing `what` and the lines so far, at the deadline or at the end;
 * - `waitForLine(what, ms, match)`: `waitFor` for the first line that matches.
 */
export class LineReader {
  readonly lines: string[] = [];
  ended = false;
  private wake: (() => void)[] = [];
  readonly done: Promise<void>;

  constructor(
    stream: ReadableStream<Uint8Array>,
    /** More to show when a `waitFor` fails (the other stream, say). */
    private readonly context: () => string = () => '',
  ) {
    this.done = this.pump(stream);
  }

  private async pump(stream: ReadableStream<Uint8Array>) {
    const decoder = new TextDecoder();
    let pending = '';
    for await (const chunk of stream) {
      pending += decoder.decode(chunk, { stream: true });
      for (let i = pending.indexOf('\n'); i !== -1; i = pending.indexOf('\n')) {
        this.lines.push(pending.slice(0, i));
        pending = pending.slice(i + 1);
      }
      this.notify();
    }
    pending += decoder.decode();
    if (pending) this.lines.push(pending);
    this.ended = true;
    this.notify();
  }

  private notify() {
    const wake = this.wake;
    this.wake = [];
    for (const w of wake) w();
  }

  /**
   * `{ value }` as soon as `ready(lines)` gives a value that is neither `undefined` nor `false`;
   * `undefined` at the deadline or when the stream ends first.
   */
  private async poll<T>(ms: number, ready: (lines: string[]) => T | undefined | false): Promise<{ value: T } | undefined> {
    const deadline = Date.now() + ms;
    for (;;) {
      const value = ready(this.lines);
      if (value !== undefined && value !== false) return { value };
      const left = deadline - Date.now();
      if (this.ended || left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** True as soon as `ready(lines)` holds; false at the deadline or when the stream ends first. */
  async until(ms: number, ready: (lines: string[]) => boolean): Promise<boolean> {
    return (await this.poll(ms, ready)) !== undefined;
  }

  /** Resolves when `ready(lines)` gives a value; rejects at the deadline or when the stream ends first. */
  async waitFor<T>(what: string, ms: number, ready: (lines: string[]) => T | undefined | false): Promise<T> {
    const found = await this.poll(ms, ready);
    if (found) return found.value;
    throw new Error(
      `${this.ended ? 'output ended' : `no ${what} within ${ms} ms`} waiting for ${what}; lines so far:\n` +
        this.lines.join('\n') +
        this.context(),
    );
  }

  /** The first line that matches, waiting for it as `waitFor` does. */
  waitForLine(what: string, ms: number, match: (line: string) => boolean): Promise<string> {
    return this.waitFor(what, ms, (lines) => lines.find(match));
  }
}
