import type { Command } from "commander";
import type { LogLevel } from "../../server/index.js";
import { ConfigError } from "../../util/errors.js";
import { positiveInt } from "../args.js";

// The server (Fastify and its plugins) is imported when the command runs, not by every command.
const LOG_LEVELS: readonly LogLevel[] = ["error", "warn", "info", "debug", "silent"];

/** `tslate serve [--model M] [--index-dir DIR] [--host H] [--port P] ...`: next-plaid's REST API + /v1/embeddings. */
export function register(program: Command): void {
  program
    .command("serve")
    .description(
      "Serve indexes over HTTP: next-plaid's REST API, PyLate's /v1/embeddings, OpenAPI at /api-docs/openapi.json, Swagger UI at /swagger-ui",
    )
    .option(
      "-m, --model <pathOrHubId>",
      "ColBERT model for the text routes (*_with_encoding, /encode, /v1/embeddings)",
    )
    .option("-d, --index-dir <dir>", "directory holding the indexes", "./indices")
    .option("-h, --host <host>", "address to bind", "127.0.0.1")
    .option("-p, --port <n>", "port to bind", "8080")
    .option("--api-key <key>", "require 'Authorization: Bearer <key>' (or set TSLATE_API_KEY)")
    .option("--query-length <n>", "query length in tokens (overrides the model's)")
    .option("--document-length <n>", "document length in tokens (overrides the model's)")
    .option("--batch-size <n>", "texts per encoding forward pass", "32")
    .option("--threads <n>", "onnxruntime threads of the model (default: all cores)")
    .option(
      "--search-workers <n>",
      "worker threads searching each index (default: one per core, at most 4)",
    )
    .option("--rate-limit <n>", "requests per second per client before 429 (default: no limit)")
    .option("--body-limit <bytes>", "largest request body", String(100 * 1024 * 1024))
    .option("--max-queued-updates <n>", "writes waiting per index before 503", "100")
    .option("--max-batch-documents <n>", "documents applied per batch", "300")
    .option("--batch-window-ms <n>", "how long an update waits for others to batch with", "100")
    .option("--log-level <level>", `one of ${LOG_LEVELS.join(", ")}`, "info")
    .helpOption("--help", "display help for command")
    .action(async (o: Record<string, string | undefined>) => {
      const level = o.logLevel as LogLevel;
      if (!LOG_LEVELS.includes(level)) {
        throw new ConfigError(
          `--log-level must be one of ${LOG_LEVELS.join(", ")}, got ${JSON.stringify(o.logLevel)}`,
        );
      }
      const port = Number(o.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        throw new ConfigError(
          `--port must be an integer in 0..65535, got ${JSON.stringify(o.port)}`,
        );
      }
      const windowMs = Number(o.batchWindowMs);
      if (!Number.isInteger(windowMs) || windowMs < 0) {
        throw new ConfigError(
          `--batch-window-ms must be an integer >= 0, got ${JSON.stringify(o.batchWindowMs)}`,
        );
      }
      const { startServer } = await import("../../server/index.js");
      const server = await startServer({
        model: o.model ?? null,
        indexDir: o.indexDir,
        host: o.host,
        port,
        apiKey: o.apiKey ?? process.env.TSLATE_API_KEY ?? null,
        queryLength: positiveInt("query-length", o.queryLength),
        documentLength: positiveInt("document-length", o.documentLength),
        batchSize: positiveInt("batch-size", o.batchSize),
        threads: positiveInt("threads", o.threads),
        searchWorkers: positiveInt("search-workers", o.searchWorkers),
        rateLimit: positiveInt("rate-limit", o.rateLimit),
        bodyLimit: positiveInt("body-limit", o.bodyLimit),
        maxQueuedUpdates: positiveInt("max-queued-updates", o.maxQueuedUpdates),
        maxBatchDocuments: positiveInt("max-batch-documents", o.maxBatchDocuments),
        batchWindowMs: windowMs,
        logLevel: level,
      });
      process.stderr.write(
        `tslate serve: listening on ${server.url} (index dir ${server.registry.dir}${o.model ? `, model ${o.model}` : ", no model"}); Swagger UI at ${server.url}/swagger-ui\n`,
      );
      // SIGTERM/SIGINT: stop accepting, finish queued writes, close indexes, exit 0.
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        process.stderr.write(`tslate serve: ${signal}, finishing queued writes\n`);
        server.close().then(
          () => {
            process.stderr.write("tslate serve: stopped\n");
            process.exit(0);
          },
          (err) => {
            process.stderr.write(`tslate serve: error while stopping: ${(err as Error).message}\n`);
            process.exit(1);
          },
        );
      };
      process.on("SIGTERM", () => stop("SIGTERM"));
      process.on("SIGINT", () => stop("SIGINT"));
    });
}
