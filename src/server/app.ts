import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import rateLimit from "@fastify/rate-limit";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import Fastify, { type FastifyError, type FastifyInstance, type FastifyRequest } from "fastify";
import type { EncodePool } from "./encoder.js";
import { ApiError, toApiError } from "./errors.js";
import type { IndexRegistry } from "./registry.js";
import { registerIndexRoutes } from "./routes-indices.js";
import { registerSearchRoutes } from "./routes-search.js";

export const LOG_LEVELS = ["error", "warn", "info", "debug", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface AppOptions {
  registry: IndexRegistry;
  /** null: the *_with_encoding, /encode, /rerank_with_encoding and /v1/embeddings routes answer MODEL_NOT_LOADED. */
  encoder: EncodePool | null;
  /** Bearer token required on every route when set (compared in constant time). */
  apiKey?: string | null;
  /** Requests per client (IP) per second before 429; 0 or undefined = no limit. */
  rateLimit?: number;
  /** Largest request body in bytes (default 100 MiB, next-plaid's DefaultBodyLimit). */
  bodyLimit?: number;
  logLevel?: LogLevel;
  /** Where log lines go (default stderr). */
  log?: (line: string) => void;
}

/** What the routes share. */
export interface ServerContext {
  registry: IndexRegistry;
  encoder: EncodePool | null;
  version: string;
  /** Writes one log line at `level` if the --log-level lets it through. */
  log(level: Exclude<LogLevel, "silent">, message: string): void;
}

/** The package's version: its package.json is the first one going up (dist/server/ or build/src/server/). */
function packageVersion(): string {
  for (let depth = 2; depth <= 4; depth++) {
    try {
      const url = new URL(`${"../".repeat(depth)}package.json`, import.meta.url);
      const p = JSON.parse(readFileSync(url, "utf8")) as { name?: string; version: string };
      if (p.name === "tslate") return p.version;
    } catch {
      // not at this level
    }
  }
  return "unknown";
}
const pkg = { version: packageVersion() };

const digest = (s: string) => createHash("sha256").update(s, "utf8").digest();

/** Builds the Fastify app (not listening yet): next-plaid's routes, /v1/embeddings, OpenAPI, Swagger UI. */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const level = options.logLevel ?? "info";
  const write = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const rank = (l: LogLevel) => LOG_LEVELS.indexOf(l);
  const ctx: ServerContext = {
    registry: options.registry,
    encoder: options.encoder,
    version: pkg.version,
    log(l, message) {
      if (level !== "silent" && rank(l) <= rank(level))
        write(`${new Date().toISOString()} ${l} ${message}`);
    },
  };

  const app = Fastify({
    logger: false,
    bodyLimit: options.bodyLimit ?? 100 * 1024 * 1024,
    // Bodies are checked exactly as sent: no type coercion, no defaults, nothing removed.
    ajv: {
      customOptions: {
        coerceTypes: false,
        useDefaults: false,
        removeAdditional: false,
        allErrors: false,
        allowUnionTypes: true,
      },
    },
    return503OnClosing: true,
    forceCloseConnections: "idle",
  });

  // One line per request: method, route, status, milliseconds.
  app.addHook("onResponse", async (req, reply) => {
    const route = req.routeOptions.url ?? req.url.split("?")[0];
    ctx.log(
      reply.statusCode >= 500 ? "error" : "info",
      `${req.method} ${route} ${reply.statusCode} ${reply.elapsedTime.toFixed(1)}ms`,
    );
  });

  if (options.apiKey) {
    const want = digest(options.apiKey);
    app.addHook("onRequest", async (req: FastifyRequest) => {
      // The API description and its UI page stay readable (the UI sends the key on "Try it out").
      const path = req.url.split("?")[0];
      if (
        path === "/api-docs/openapi.json" ||
        path === "/swagger-ui" ||
        path.startsWith("/swagger-ui/")
      )
        return;
      const h = req.headers.authorization;
      const got = typeof h === "string" && h.startsWith("Bearer ") ? h.slice(7) : null;
      // Hashes of equal length, compared in constant time: no timing leak of the key's bytes or length.
      if (got === null || !timingSafeEqual(digest(got), want)) {
        throw new ApiError(
          "UNAUTHORIZED",
          got === null ? "Missing API key: send 'Authorization: Bearer <key>'" : "Invalid API key",
        );
      }
    });
  }

  if (options.rateLimit && options.rateLimit > 0) {
    await app.register(rateLimit, {
      max: options.rateLimit,
      timeWindow: 1000,
      allowList: (req) => req.url === "/health" || req.url === "/",
      errorResponseBuilder: (_req, context) => {
        const e = new ApiError(
          "RATE_LIMITED",
          `Too many requests (more than ${context.max} per second). Please retry after ${Math.ceil(context.ttl / 1000)} s.`,
          { retry_after_seconds: Math.ceil(context.ttl / 1000) },
        );
        return Object.assign(e, { statusCode: 429 });
      },
    });
  }

  app.setErrorHandler((err: FastifyError | ApiError, _req, reply) => {
    let e: ApiError;
    if (err instanceof ApiError) e = err;
    else if (err.validation) {
      e = new ApiError(
        "BAD_REQUEST",
        `Invalid request: ${err.validationContext ?? "body"}${err.validation[0]?.instancePath ?? ""} ${err.validation[0]?.message ?? err.message}`,
        err.validation.map((v) => ({ path: v.instancePath, message: v.message })),
      );
    } else if (err.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
      e = new ApiError(
        "PAYLOAD_TOO_LARGE",
        `Request body larger than ${app.initialConfig.bodyLimit} bytes`,
      );
    } else if (err.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") {
      e = new ApiError("BAD_REQUEST", "Content-Type must be application/json");
    } else if (
      typeof err.statusCode === "number" &&
      err.statusCode >= 400 &&
      err.statusCode < 500
    ) {
      // Fastify's own client errors (bad JSON, empty body, ...).
      e = new ApiError("BAD_REQUEST", `Invalid request: ${err.message}`);
    } else {
      e = toApiError(err);
    }
    if (e.status >= 500) ctx.log("error", `${e.code}: ${e.message}`);
    if (e.code === "RATE_LIMITED")
      reply.header(
        "retry-after",
        String((e.details as { retry_after_seconds: number }).retry_after_seconds),
      );
    reply.status(e.status).send(e.body());
  });

  app.setNotFoundHandler((req, reply) => {
    reply
      .status(404)
      .send(new ApiError("NOT_FOUND", `No route ${req.method} ${req.url.split("?")[0]}`).body());
  });

  await app.register(swagger, {
    openapi: {
      openapi: "3.0.3",
      info: {
        title: "tslate serve (next-plaid API)",
        version: pkg.version,
        description:
          "next-plaid 1.6's REST API (PLAID multi-vector search, metadata filters, keyword and hybrid search, encoding, reranking) and PyLate's OpenAI-style /v1/embeddings, served by tslate.",
      },
      components: options.apiKey
        ? { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } }
        : undefined,
      security: options.apiKey ? [{ bearer: [] }] : undefined,
    },
  });
  // Swagger UI's files come from the installed swagger-ui-dist copy inside @fastify/swagger-ui (no CDN).
  await app.register(swaggerUi, { routePrefix: "/swagger-ui" });
  app.get("/api-docs/openapi.json", { schema: { hide: true } }, async () => app.swagger());

  registerIndexRoutes(app, ctx);
  registerSearchRoutes(app, ctx);
  return app;
}
