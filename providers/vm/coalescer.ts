// A cloud's answer for a scope (an EC2 region, a GCE zone), shared by every watcher that asks at
// once and reused while it is fresh: how batched status keeps cloud API calls flat however many
// jobs and watchers there are.
interface Entry<T> {
  /** when the answer came (while in flight: when it was asked) */
  at: number;
  done: boolean;
  value: Promise<T>;
}

/**
 * Answers per key, shared while in flight (however long the cloud takes) and reused while
 * younger than `reuseMs`; a failure is not kept.
 */
export class Coalescer<T> {
  /** fetches started (for tests and metrics) */
  fetches = 0;

  private readonly entries = new Map<string, Entry<T>>();
  constructor(private readonly reuseMs: number) {}

  get(key: string, fetch: () => Promise<T>): Promise<T> {
    const hit = this.entries.get(key);
    if (hit && (!hit.done || Date.now() - hit.at < this.reuseMs)) return hit.value;
    this.fetches++;
    const value = fetch();
    const entry: Entry<T> = { at: Date.now(), done: false, value };
    this.entries.set(key, entry);
    value.then(
      () => {
        entry.at = Date.now(); // fresh from when the answer came
        entry.done = true;
      },
      () => {
        if (this.entries.get(key) === entry) this.entries.delete(key);
      },
    );
    return value;
  }

  /** Forget a key's answer (after this process changed what it would say). */
  drop(prefix: string): void {
    for (const k of this.entries.keys()) if (k.startsWith(prefix)) this.entries.delete(k);
  }
}
