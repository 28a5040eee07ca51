import type { ColBERT } from "../models/colbert.js";
import type { Matrix } from "../util/matrix.js";
import { ApiError } from "./errors.js";

export interface EncodePoolOptions {
  /** Texts per forward pass (--batch-size; ColBERT.encode's batchSize). */
  batchSize: number;
  /** Texts waiting at most; more is refused with 503 (next-plaid's ENCODE_BATCH_CHANNEL_SIZE is 256 requests). */
  maxQueuedTexts: number;
}

interface Job {
  texts: string[];
  isQuery: boolean;
  poolFactor: number;
  resolve: (m: Matrix[]) => void;
  reject: (e: Error) => void;
}

/**
 * Encoding for every route that takes text: one model, one encode at a time (onnxruntime
 * already uses --threads cores per run), and requests that wait are merged: jobs of the same
 * kind (query/document, pool factor) go through one `encode` call, so many small concurrent
 * requests share batches (next-plaid's encode batch queue).
 */
export class EncodePool {
  readonly model: ColBERT;
  readonly modelName: string;
  readonly modelPath: string;
  private readonly options: EncodePoolOptions;
  private readonly jobs: Job[] = [];
  private queued = 0;
  private running: Promise<void> | null = null;

  constructor(model: ColBERT, modelPath: string, options: EncodePoolOptions) {
    this.model = model;
    this.modelPath = modelPath;
    this.modelName =
      modelPath
        .replace(/[\\/]+$/, "")
        .split(/[\\/]/)
        .pop() ?? modelPath;
    this.options = options;
  }

  get batchSize(): number {
    return this.options.batchSize;
  }

  encode(texts: string[], isQuery: boolean, poolFactor = 1): Promise<Matrix[]> {
    if (texts.length === 0) return Promise.resolve([]);
    if (this.queued + texts.length > this.options.maxQueuedTexts) {
      return Promise.reject(
        new ApiError(
          "SERVICE_UNAVAILABLE",
          `Encode queue full (${this.queued} texts waiting, at most ${this.options.maxQueuedTexts}). Retry later.`,
        ),
      );
    }
    this.queued += texts.length;
    const p = new Promise<Matrix[]>((resolve, reject) =>
      this.jobs.push({ texts, isQuery, poolFactor, resolve, reject }),
    );
    this.running ??= this.loop();
    return p;
  }

  private async loop(): Promise<void> {
    try {
      while (this.jobs.length > 0) {
        const head = this.jobs[0];
        // The head's kind, and every waiting job of the same kind, up to a few batches of texts.
        const limit = Math.max(head.texts.length, 4 * this.options.batchSize);
        const group: Job[] = [];
        let n = 0;
        for (let i = 0; i < this.jobs.length; ) {
          const j = this.jobs[i];
          if (
            j.isQuery === head.isQuery &&
            j.poolFactor === head.poolFactor &&
            n + j.texts.length <= limit
          ) {
            group.push(j);
            n += j.texts.length;
            this.jobs.splice(i, 1);
          } else i++;
        }
        this.queued -= n;
        try {
          const out = (await this.model.encode(
            group.flatMap((j) => j.texts),
            {
              isQuery: head.isQuery,
              batchSize: this.options.batchSize,
              poolFactor: head.poolFactor,
            },
          )) as Matrix[];
          let o = 0;
          for (const j of group) {
            j.resolve(out.slice(o, o + j.texts.length));
            o += j.texts.length;
          }
        } catch (err) {
          const e = new ApiError("MODEL_ERROR", `Model error: ${(err as Error).message}`);
          for (const j of group) j.reject(e);
        }
      }
    } finally {
      this.running = null;
    }
  }

  /** Waits for the encodes in flight. */
  async drain(): Promise<void> {
    while (this.running) await this.running;
  }
}
