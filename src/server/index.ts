import type { FastifyInstance } from "fastify";
import { ColBERT } from "../models/colbert.js";
import { InvalidArgumentError } from "../util/errors.js";
import { type AppOptions, buildApp, LOG_LEVELS, type LogLevel } from "./app.js";
import { EncodePool } from "./encoder.js";
import { IndexRegistry } from "./registry.js";

export { buildApp, LOG_LEVELS, type LogLevel } from "./app.js";
export { EncodePool } from "./encoder.js";
export { API_ERROR_STATUS, ApiError, type ApiErrorCode, type ErrorBody } from "./errors.js";
export { IndexRegistry, type StoredIndexConfig } from "./registry.js";

/** `tslate serve`'s options (next-plaid-api's flag names where it has them). */
export interface ServeOptions {
  /** ColBERT model (directory or hub id) for the text routes; none: they answer MODEL_NOT_LOADED. */
  model?: string | null;
  /** Where indexes live (default ./indices, as next-plaid). */
  indexDir?: string;
  host?: string;
  /** 0 picks a free port (tests). Default 8080. */
  port?: number;
  apiKey?: string | null;
  /** Query / document lengths overriding the model's. */
  queryLength?: number;
  documentLength?: number;
  /** Texts per encode forward pass (default 32). */
  batchSize?: number;
  /** onnxruntime threads of the model (default: all cores). */
  threads?: number;
  /** Worker threads searching each index (default: ParallelSearcher's, one per core up to 4). */
  searchWorkers?: number;
  /** Requests per second per client before 429 (default off). */
  rateLimit?: number;
  /** Largest body in bytes (default 100 MiB). */
  bodyLimit?: number;
  /** Writes waiting per index before 503 (default 100, next-plaid's BATCH_CHANNEL_SIZE). */
  maxQueuedUpdates?: number;
  /** Documents per applied batch (default 300, next-plaid's MAX_BATCH_DOCUMENTS). */
  maxBatchDocuments?: number;
  /** Time the first update of a batch waits for others, ms (default 100, next-plaid's). */
  batchWindowMs?: number;
  logLevel?: LogLevel;
  log?: AppOptions["log"];
}

/** A running server. */
export interface RunningServer {
  app: FastifyInstance;
  registry: IndexRegistry;
  encoder: EncodePool | null;
  /** http://host:port */
  url: string;
  port: number;
  /** Stops accepting, finishes queued writes and in-flight requests, closes indexes and the model. */
  close(): Promise<void>;
}

function positive(name: string, v: number | undefined, min = 1): void {
  if (v !== undefined && (!Number.isInteger(v) || v < min)) {
    throw new InvalidArgumentError(`${name} must be an integer >= ${min}, got ${v}`);
  }
}

/** Starts `tslate serve` in this process and resolves once it listens. */
export async function startServer(options: ServeOptions = {}): Promise<RunningServer> {
  positive("batchSize", options.batchSize);
  positive("threads", options.threads);
  positive("searchWorkers", options.searchWorkers);
  positive("queryLength", options.queryLength);
  positive("documentLength", options.documentLength);
  positive("maxQueuedUpdates", options.maxQueuedUpdates);
  positive("maxBatchDocuments", options.maxBatchDocuments);
  positive("batchWindowMs", options.batchWindowMs, 0);
  positive("bodyLimit", options.bodyLimit);
  positive("rateLimit", options.rateLimit, 0);
  if (options.logLevel !== undefined && !LOG_LEVELS.includes(options.logLevel)) {
    throw new InvalidArgumentError(
      `logLevel must be one of ${LOG_LEVELS.join(", ")}, got ${JSON.stringify(options.logLevel)}`,
    );
  }
  let encoder: EncodePool | null = null;
  if (options.model) {
    const model = await ColBERT.fromPretrained(options.model, {
      threads: options.threads,
      ...(options.queryLength ? { queryLength: options.queryLength } : {}),
      ...(options.documentLength ? { documentLength: options.documentLength } : {}),
    });
    encoder = new EncodePool(model, options.model, {
      batchSize: options.batchSize ?? 32,
      maxQueuedTexts: 4096,
    });
  }
  const registry = new IndexRegistry({
    indexDir: options.indexDir ?? "./indices",
    searchWorkers: options.searchWorkers,
    maxQueued: options.maxQueuedUpdates ?? 100,
    maxBatchDocuments: options.maxBatchDocuments ?? 300,
    batchWindowMs: options.batchWindowMs ?? 100,
  });
  const app = await buildApp({
    registry,
    encoder,
    apiKey: options.apiKey ?? null,
    rateLimit: options.rateLimit,
    bodyLimit: options.bodyLimit,
    logLevel: options.logLevel,
    log: options.log,
  });
  const host = options.host ?? "127.0.0.1";
  await app.listen({ host, port: options.port ?? 8080 });
  const addr = app.server.address();
  const port = typeof addr === "object" && addr ? addr.port : (options.port ?? 8080);
  let closing: Promise<void> | null = null;
  return {
    app,
    registry,
    encoder,
    port,
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
    close() {
      closing ??= (async () => {
        // In-flight requests (a ?wait=true update among them) finish while the queues drain.
        await Promise.all([app.close(), registry.close()]);
        if (encoder) {
          await encoder.drain();
          await encoder.model.dispose();
        }
      })();
      return closing;
    },
  };
}
