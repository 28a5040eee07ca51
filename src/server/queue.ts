import { ApiError } from "./errors.js";

/** A write waiting in an index's queue. */
export interface QueuedWrite {
  /** Adds are merged into batches; anything else is applied alone, in order. */
  kind: "add" | "delete";
  /** Documents it adds (batch size accounting). */
  docs: number;
  payload: unknown;
}

interface Pending<R> {
  write: QueuedWrite;
  resolve: (r: R) => void;
  reject: (e: Error) => void;
}

export interface WriteQueueOptions {
  /** Writes waiting (not yet started) at most; one more is refused with 503. */
  maxQueued: number;
  /** Documents per applied batch at most (next-plaid's MAX_BATCH_DOCUMENTS, 300). */
  maxBatchDocuments: number;
  /** How long the first add of a batch waits for more adds, in ms (next-plaid: 100). */
  batchWindowMs: number;
}

/**
 * One index's writes, applied in arrival order by a single loop: consecutive adds are merged
 * into one batch (up to maxBatchDocuments, waiting batchWindowMs for company), a delete is
 * applied on its own between them. `apply` gets a batch and returns one result per write.
 * Bounded: `push` refuses with SERVICE_UNAVAILABLE when maxQueued writes already wait.
 */
export class WriteQueue<R> {
  private readonly pending: Pending<R>[] = [];
  private running: Promise<void> | null = null;
  private closed = false;
  private readonly options: WriteQueueOptions;
  private readonly apply: (writes: QueuedWrite[]) => Promise<R[]>;
  private readonly name: string;

  constructor(
    name: string,
    options: WriteQueueOptions,
    apply: (writes: QueuedWrite[]) => Promise<R[]>,
  ) {
    this.name = name;
    this.options = options;
    this.apply = apply;
  }

  /** Writes waiting, not counting the batch being applied. */
  get depth(): number {
    return this.pending.length;
  }

  get busy(): boolean {
    return this.running !== null;
  }

  get maxQueued(): number {
    return this.options.maxQueued;
  }

  /** Queues a write (throws SERVICE_UNAVAILABLE at once when full or closing); settles when applied. */
  push(write: QueuedWrite): Promise<R> {
    if (this.closed) {
      throw new ApiError(
        "SERVICE_UNAVAILABLE",
        `Index '${this.name}' is shutting down or being deleted`,
      );
    }
    if (this.pending.length >= this.options.maxQueued) {
      throw new ApiError(
        "SERVICE_UNAVAILABLE",
        `Update queue full for index '${this.name}'. Max ${this.options.maxQueued} pending updates. Retry later.`,
      );
    }
    const p = new Promise<R>((resolve, reject) => this.pending.push({ write, resolve, reject }));
    if (!this.running) this.running = this.loop();
    return p;
  }

  private async loop(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const first = this.pending[0];
        if (first.write.kind === "add" && this.options.batchWindowMs > 0 && !this.closed) {
          await waitFor(
            this.options.batchWindowMs,
            () => this.addDocs() >= this.options.maxBatchDocuments || this.closed,
          );
        }
        const batch = this.takeBatch();
        try {
          const results = await this.apply(batch.map((p) => p.write));
          batch.forEach((p, i) => p.resolve(results[i]));
        } catch (err) {
          for (const p of batch) p.reject(err as Error);
        }
      }
    } finally {
      this.running = null;
    }
  }

  /** Documents of the leading run of adds. */
  private addDocs(): number {
    let n = 0;
    for (const p of this.pending) {
      if (p.write.kind !== "add") break;
      n += p.write.docs;
    }
    return n;
  }

  private takeBatch(): Pending<R>[] {
    const first = this.pending.shift()!;
    const batch = [first];
    if (first.write.kind !== "add") return batch;
    let docs = first.write.docs;
    while (this.pending.length > 0) {
      const next = this.pending[0];
      if (next.write.kind !== "add" || docs + next.write.docs > this.options.maxBatchDocuments)
        break;
      docs += next.write.docs;
      batch.push(this.pending.shift()!);
    }
    return batch;
  }

  /** Applies what is queued (no more accepted), then resolves. */
  async drain(): Promise<void> {
    this.closed = true;
    while (this.running) await this.running;
  }

  /** Refuses what is queued (the index is going away), waits for the batch being applied. */
  async abort(err: Error): Promise<void> {
    this.closed = true;
    for (const p of this.pending.splice(0)) p.reject(err);
    while (this.running) await this.running;
  }
}

/** Resolves after `ms`, or earlier once `done()` holds (checked every few ms). */
function waitFor(ms: number, done: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const end = Date.now() + ms;
    const tick = () => {
      if (done() || Date.now() >= end) resolve();
      else setTimeout(tick, Math.min(10, Math.max(1, end - Date.now())));
    };
    tick();
  });
}
