// Gang semantics of a job that runs on several nodes at once: the first node to fail decides
// the job's exit code and the others are stopped; the job ends when every node has ended.
// Pure, so the job workflows can keep it durably and the legacy run activity can share it.

export class Gang {
  readonly exitCodes: (number | null)[];
  private readonly done: boolean[];
  private firstFailure: number | null | undefined;
  private stopping = false;

  constructor(size: number) {
    this.exitCodes = Array.from({ length: size }, () => null);
    this.done = Array.from({ length: size }, () => false);
  }

  /** Node `index` ended with `exitCode` (null: it vanished without one). Repeats are ignored. */
  ended(index: number, exitCode: number | null): void {
    if (this.done[index] !== false) return;
    this.done[index] = true;
    this.exitCodes[index] = exitCode;
    if (exitCode !== 0) this.firstFailure ??= exitCode;
  }

  isDone(index: number): boolean {
    return this.done[index] === true;
  }

  get allDone(): boolean {
    return !this.done.includes(false);
  }

  /** Indexes to stop because another node failed; each is returned once. */
  takeNodesToStop(): number[] {
    if (this.stopping || this.firstFailure === undefined) return [];
    this.stopping = true;
    return this.done.flatMap((d, i) => (d ? [] : [i]));
  }

  /** 0 when every node succeeded; else the first failure's code (null: vanished). */
  get exitCode(): number | null {
    return this.firstFailure === undefined ? 0 : this.firstFailure;
  }
}
