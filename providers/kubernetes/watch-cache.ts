// One LIST, then one WATCH, per context and namespace (pods by Petrel's label) and per context
// (nodes): the batched status of every job of a context reads these caches instead of asking the
// API server each round. A watch that ends (the server closes watches every few minutes, or the
// connection drops) resumes from the last resourceVersion it saw; one the server answers with
// 410 Gone (that version is older than its watch cache keeps) lists again. A cache nobody has
// read for a while stops watching.
//
// Until a cache has listed, and while its watch is down for longer than STALE_AFTER_MS, callers
// get `undefined` and do a plain LIST themselves, so a broken watch never hides a change.
import { Watch, type KubeConfig, type V1Node, type V1Pod } from '@kubernetes/client-node';

/** A cache whose watch has been down this long is not trusted. */
const STALE_AFTER_MS = 5_000;
/** Unread this long: stop watching. */
const IDLE_MS = 120_000;
const RETRY_MS = 1_000;
/** Deleted objects remembered (their last state says why they went). */
const MAX_TOMBSTONES = 2_000;
/** Not allowed to list (RBAC): ask again this rarely. */
const FORBIDDEN_RETRY_MS = 60_000;

interface Listed<T> {
  items: T[];
  metadata?: { resourceVersion?: string };
}

type Lister<T> = () => Promise<Listed<T>>;

export class WatchCache<T extends { metadata?: { name?: string; resourceVersion?: string } }> {
  private readonly items = new Map<string, T>();
  /** the last state of recently deleted objects: why a pod went (preemption, eviction) */
  private readonly deleted = new Map<string, T>();
  private resourceVersion: string | undefined;
  private listed = false;
  private connected = false;
  private downSince = 0;
  private lastRead = Date.now();
  private abort: AbortController | undefined;
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;
  /** how many LISTs and WATCH starts this cache made (for tests and the benchmark) */
  readonly calls = { list: 0, watch: 0, gone410: 0 };
  private firstList: Promise<void>;
  private readonly idleCheck: NodeJS.Timeout;

  constructor(
    private readonly kc: KubeConfig,
    private readonly path: string,
    private readonly query: Record<string, string>,
    private readonly list: Lister<T>,
    private readonly onIdle: () => void,
  ) {
    this.firstList = this.relist();
    this.idleCheck = setInterval(() => {
      if (Date.now() - this.lastRead <= IDLE_MS) return;
      this.stop();
      this.onIdle();
    }, IDLE_MS / 4);
    this.idleCheck.unref();
  }

  /** The cached objects by name, or undefined when the cache cannot be trusted now. */
  async snapshot(waitMs = 2_000): Promise<Map<string, T> | undefined> {
    return (await this.view(waitMs))?.items;
  }

  /** snapshot(), with the last state of the objects deleted lately. */
  async view(waitMs = 2_000): Promise<{ items: Map<string, T>; deleted: Map<string, T> } | undefined> {
    this.lastRead = Date.now();
    if (!this.listed) await Promise.race([this.firstList, new Promise((r) => setTimeout(r, waitMs).unref())]);
    if (!this.listed) return undefined;
    if (!this.connected && Date.now() - this.downSince > STALE_AFTER_MS) return undefined;
    return { items: new Map(this.items), deleted: new Map(this.deleted) };
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retry);
    clearInterval(this.idleCheck);
    this.abort?.abort();
  }

  /** For tests: resume the watch from `rv` as after a disconnect. */
  resumeFrom(rv: string): void {
    this.resourceVersion = rv;
    this.abort?.abort();
  }

  private async relist(): Promise<void> {
    if (this.stopped) return;
    try {
      this.calls.list++;
      const l = await this.list();
      this.items.clear();
      for (const item of l.items) if (item.metadata?.name) this.items.set(item.metadata.name, item);
      this.resourceVersion = l.metadata?.resourceVersion;
      this.listed = true;
      await this.startWatch();
    } catch (err) {
      this.markDown();
      const forbidden = (err as { code?: number }).code === 403;
      this.schedule(() => this.relist(), forbidden ? FORBIDDEN_RETRY_MS : RETRY_MS);
    }
  }

  private async startWatch(): Promise<void> {
    if (this.stopped) return;
    this.calls.watch++;
    let gone = false;
    const query = { ...this.query, allowWatchBookmarks: 'true', ...(this.resourceVersion ? { resourceVersion: this.resourceVersion } : {}) };
    try {
      this.abort = await new Watch(this.kc).watch(
        this.path,
        query,
        (type: string, obj: T & { code?: number }) => {
          this.connected = true;
          if (type === 'ERROR') {
            if (obj.code === 410) gone = true;
            return;
          }
          const rv = obj.metadata?.resourceVersion;
          if (rv) this.resourceVersion = rv;
          if (type === 'BOOKMARK') return;
          const name = obj.metadata?.name;
          if (!name) return;
          if (type === 'DELETED') {
            this.items.delete(name);
            this.deleted.delete(name);
            this.deleted.set(name, obj);
            if (this.deleted.size > MAX_TOMBSTONES) this.deleted.delete(this.deleted.keys().next().value!);
          } else this.items.set(name, obj);
        },
        (err: unknown) => {
          this.markDown();
          if (this.stopped) return;
          if (gone || (err as { statusCode?: number } | null)?.statusCode === 410) {
            this.calls.gone410++;
            this.schedule(() => this.relist(), 0);
          } else this.schedule(() => this.startWatch(), err ? RETRY_MS : 0);
        },
      );
      // The server accepted the watch: it is live until `done` says otherwise.
      this.connected = true;
    } catch {
      this.markDown();
      this.schedule(() => this.startWatch());
    }
  }

  private markDown(): void {
    if (this.connected || this.downSince === 0) this.downSince = Date.now();
    this.connected = false;
  }

  private schedule(fn: () => Promise<void>, ms = RETRY_MS): void {
    if (this.stopped) return;
    clearTimeout(this.retry);
    this.retry = setTimeout(() => void fn(), ms);
    this.retry.unref();
  }
}

const caches = new Map<string, WatchCache<V1Pod> | WatchCache<V1Node>>();

/** The worker-wide pod cache of Petrel's pods in a namespace of a context. */
export function podCache(key: string, kc: KubeConfig, namespace: string, labelSelector: string, list: Lister<V1Pod>): WatchCache<V1Pod> {
  const k = `pods\n${key}\n${namespace}\n${labelSelector}`;
  let c = caches.get(k) as WatchCache<V1Pod> | undefined;
  if (!c) {
    c = new WatchCache<V1Pod>(kc, `/api/v1/namespaces/${namespace}/pods`, { labelSelector }, list, () => caches.delete(k));
    caches.set(k, c);
  }
  return c;
}

/** The worker-wide node cache of a context. */
export function nodeCache(key: string, kc: KubeConfig, list: Lister<V1Node>): WatchCache<V1Node> {
  const k = `nodes\n${key}`;
  let c = caches.get(k) as WatchCache<V1Node> | undefined;
  if (!c) {
    c = new WatchCache<V1Node>(kc, '/api/v1/nodes', {}, list, () => caches.delete(k));
    caches.set(k, c);
  }
  return c;
}

/** Stops every watch (tests, and a worker shutting down). */
export function stopAllWatches(): void {
  for (const c of caches.values()) c.stop();
  caches.clear();
}
