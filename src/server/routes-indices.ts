import { memoryUsage } from "node:process";
import type { FastifyInstance } from "fastify";
import type { DocumentMetadata } from "../indexes/types.js";
import type { ServerContext } from "./app.js";
import { checkDims, type EmbeddingsInput, toMatrix } from "./embeddings.js";
import { ApiError, badRequest, dimensionMismatch, modelNotLoaded } from "./errors.js";
import {
  DEFAULT_STORED_CONFIG,
  metadataText,
  publicMetadata,
  type ServedIndex,
  type StoredIndexConfig,
  TEXT_FIELD,
  type WriteResult,
} from "./registry.js";
import * as S from "./schemas.js";

type Name = { Params: { name: string } };
const isWait = (q: unknown) => {
  const w = (q as { wait?: string } | undefined)?.wait;
  return w === "true" || w === "1";
};

/** next-plaid's IndexSummary / IndexInfoResponse fields of an open index. */
export function indexSummary(s: ServedIndex) {
  const docs = s.index.count();
  const tokens = s.index.tokenCount();
  const codec = s.index.trainedCodec;
  return {
    name: s.name,
    num_documents: docs,
    num_embeddings: tokens,
    num_partitions: codec ? codec.centroids.length / codec.dim : 0,
    dimension: s.index.dim,
    nbits: s.config.nbits,
    avg_doclen: docs ? tokens / docs : 0,
    has_metadata: s.populated,
    ...(s.config.max_documents !== null ? { max_documents: s.config.max_documents } : {}),
  };
}

/** Health, index management, document writes and the six metadata routes. */
export function registerIndexRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { registry } = ctx;

  const health = async () => {
    const indices = [];
    for (const name of registry.list()) {
      const s = await registry.get(name).catch(() => null);
      if (s) indices.push(indexSummary(s));
    }
    const loaded = await registry.loaded();
    const enc = ctx.encoder;
    return {
      status: "healthy",
      version: ctx.version,
      loaded_indices: loaded.length,
      index_dir: registry.dir,
      memory_usage_bytes: memoryUsage.rss(),
      indices,
      updates: loaded.flatMap((s) =>
        s.status ? [{ ...s.status, queue_depth: s.queue.depth }] : [],
      ),
      ...(enc
        ? {
            model: {
              name: enc.modelName,
              path: enc.modelPath,
              quantized: false,
              embedding_dim: enc.model.embeddingDim,
              batch_size: enc.batchSize,
              num_sessions: 1,
              query_prefix: enc.model.config.queryPrefix,
              document_prefix: enc.model.config.documentPrefix,
              query_length: enc.model.config.queryLength,
              document_length: enc.model.config.documentLength,
              do_query_expansion: enc.model.config.doQueryExpansion,
            },
          }
        : {}),
    };
  };
  app.get(
    "/health",
    { schema: { tags: ["health"], summary: "Health, index summaries and running updates" } },
    health,
  );
  app.get("/", { schema: { tags: ["health"], summary: "Alias of /health" } }, health);

  app.get("/indices", { schema: { tags: ["indices"], summary: "List index names" } }, async () =>
    registry.list(),
  );

  app.post<{ Body: { name: string; config?: Partial<Record<keyof StoredIndexConfig, unknown>> } }>(
    "/indices",
    {
      schema: {
        tags: ["indices"],
        summary: "Declare an index (config only)",
        body: S.createIndexBody,
      },
    },
    async (req) => {
      const { name } = req.body;
      if (name === "") throw badRequest("Index name cannot be empty");
      const c = req.body.config ?? {};
      const pick = <K extends keyof StoredIndexConfig>(k: K): StoredIndexConfig[K] =>
        (c[k] ?? DEFAULT_STORED_CONFIG[k]) as StoredIndexConfig[K];
      const config: StoredIndexConfig = {
        nbits: pick("nbits"),
        batch_size: pick("batch_size"),
        seed: pick("seed"),
        start_from_scratch: pick("start_from_scratch"),
        max_documents: pick("max_documents"),
        fts_tokenizer: pick("fts_tokenizer"),
      };
      if (config.fts_tokenizer !== "unicode61") {
        throw badRequest(
          `fts_tokenizer ${JSON.stringify(config.fts_tokenizer)} is not supported by tslate; use "unicode61"`,
        );
      }
      await registry.create(name, config);
      return {
        name,
        config,
        message: "Index declared. Use POST /indices/{name}/update to add documents.",
      };
    },
  );

  app.get<Name>(
    "/indices/:name",
    { schema: { tags: ["indices"], summary: "Index information", params: S.nameParams } },
    async (req) => {
      const s = await registry.getPopulated(req.params.name);
      const { nbits: _n, ...info } = indexSummary(s);
      return { ...info, metadata_count: s.index.count() };
    },
  );

  app.delete<Name>(
    "/indices/:name",
    {
      schema: { tags: ["indices"], summary: "Delete an index and its data", params: S.nameParams },
    },
    async (req) => {
      await registry.remove(req.params.name);
      return { deleted: true, name: req.params.name };
    },
  );

  app.put<Name & { Body: { max_documents: number | null } }>(
    "/indices/:name/config",
    {
      schema: {
        tags: ["indices"],
        summary: "Set max_documents",
        params: S.nameParams,
        body: S.updateConfigBody,
      },
    },
    async (req) => {
      const s = await registry.get(req.params.name);
      s.writeConfig({ ...s.config, max_documents: req.body.max_documents });
      const max = req.body.max_documents;
      return {
        name: s.name,
        config: s.storedConfig(),
        message:
          max === null
            ? "max_documents limit removed (unlimited)."
            : `max_documents set to ${max}. Eviction will occur on next document addition if over limit.`,
      };
    },
  );

  /** Queues an add; 202 at once (next-plaid), or 200 after the commit with ?wait=true. */
  const queueAdd = async (
    s: ServedIndex,
    embeddings: ReturnType<typeof toMatrix>[],
    metadata: DocumentMetadata[],
    wait: boolean,
    reply: { status(n: number): unknown },
    accepted: string,
  ) => {
    checkDims(embeddings, s.index.dim);
    const done = s.enqueue({
      kind: "add",
      docs: embeddings.length,
      payload: { embeddings, metadata },
    });
    if (wait) {
      const r: WriteResult = await done;
      return { status: "complete", document_ids: r.document_ids, evicted: r.evicted };
    }
    // The caller learns the outcome from /health; a failure is logged, never unhandled.
    done.catch((err) => ctx.log("error", `update of ${s.name} failed: ${(err as Error).message}`));
    reply.status(202);
    return accepted;
  };

  const checkDocs = (documents: unknown[], metadata: unknown[]) => {
    if (documents.length === 0) throw badRequest("At least one document is required");
    if (metadata.length !== documents.length) {
      throw badRequest(
        `Metadata length (${metadata.length}) must match documents length (${documents.length})`,
      );
    }
  };

  app.post<Name & { Body: { documents: EmbeddingsInput[]; metadata?: DocumentMetadata[] } }>(
    "/indices/:name/update",
    {
      schema: {
        tags: ["documents"],
        summary: "Add documents with embeddings (202, batched per index)",
        params: S.nameParams,
        querystring: S.waitQuery,
        body: S.updateBody,
      },
    },
    async (req, reply) => {
      const s = await registry.getDeclared(req.params.name);
      const embeddings = req.body.documents.map((d) => toMatrix(d, "document"));
      checkDocs(embeddings, metaOrEmpty(req.body));
      return queueAdd(
        s,
        embeddings,
        metaOrEmpty(req.body),
        isWait(req.query),
        reply,
        "Update queued for batching",
      );
    },
  );

  app.post<Name & { Body: { documents: EmbeddingsInput[]; metadata?: DocumentMetadata[] } }>(
    "/indices/:name/documents",
    {
      schema: {
        tags: ["documents"],
        summary: "Add documents to an existing index (legacy)",
        params: S.nameParams,
        querystring: S.waitQuery,
        body: S.updateBody,
      },
    },
    async (req, reply) => {
      if (req.body.documents.length === 0) throw badRequest("No documents provided");
      checkDocs(req.body.documents, metaOrEmpty(req.body));
      const s = await registry.getPopulated(req.params.name);
      const embeddings = req.body.documents.map((d) => toMatrix(d, "document"));
      for (const e of embeddings)
        if (e.cols !== s.index.dim) throw dimensionMismatch(s.index.dim, e.cols);
      return queueAdd(
        s,
        embeddings,
        metaOrEmpty(req.body),
        isWait(req.query),
        reply,
        "Update queued in background",
      );
    },
  );

  app.post<
    Name & {
      Body: { documents: string[]; metadata?: DocumentMetadata[]; pool_factor?: number | null };
    }
  >(
    "/indices/:name/update_with_encoding",
    {
      schema: {
        tags: ["documents"],
        summary: "Add documents as text (the server encodes them)",
        params: S.nameParams,
        querystring: S.waitQuery,
        body: S.updateWithEncodingBody,
      },
    },
    async (req, reply) => {
      const s = await registry.getDeclared(req.params.name);
      checkDocs(req.body.documents, metaOrEmpty(req.body));
      if (!ctx.encoder) throw modelNotLoaded();
      if (s.queue.depth >= s.queue.maxQueued) {
        throw new ApiError(
          "SERVICE_UNAVAILABLE",
          `Update queue full for index '${s.name}'. Retry later.`,
        );
      }
      const embeddings = await ctx.encoder.encode(
        req.body.documents,
        false,
        req.body.pool_factor ?? 1,
      );
      return queueAdd(
        s,
        embeddings,
        metaOrEmpty(req.body),
        isWait(req.query),
        reply,
        "Update queued for batching",
      );
    },
  );

  app.delete<Name & { Body: { condition: string; parameters?: unknown[] } }>(
    "/indices/:name/documents",
    {
      schema: {
        tags: ["documents"],
        summary: "Delete documents matching a SQL condition on metadata (202)",
        params: S.nameParams,
        querystring: S.waitQuery,
        body: S.deleteDocumentsBody,
      },
    },
    async (req, reply) => {
      if (req.body.condition === "") throw badRequest("Delete condition cannot be empty");
      const s = await registry.getPopulated(req.params.name);
      const parameters = req.body.parameters ?? [];
      // Checked now (400 for a bad or hostile condition), resolved again when applied, in order.
      s.index.filterIds({ sql: req.body.condition, params: parameters });
      const done = s.enqueue({
        kind: "delete",
        docs: 0,
        payload: { condition: req.body.condition, parameters },
      });
      if (isWait(req.query)) {
        const r = await done;
        return {
          status: "complete",
          deleted: r.deleted,
          document_ids: r.document_ids,
          remaining: s.index.count(),
        };
      }
      done.catch((err) =>
        ctx.log("error", `delete on ${s.name} failed: ${(err as Error).message}`),
      );
      reply.status(202);
      return "Delete condition queued for batch processing";
    },
  );

  // ---- metadata ----

  const metaOf = (s: ServedIndex, id: number) =>
    publicMetadata(String(id), s.index.metadata(String(id)));
  const filterIds = (s: ServedIndex, condition: string, parameters: unknown[] | undefined) => {
    try {
      return s.index.filterIds({ sql: condition, params: parameters ?? [] }).map(Number);
    } catch (err) {
      throw badRequest(`Invalid condition: ${(err as Error).message}`);
    }
  };

  app.get<Name>(
    "/indices/:name/metadata",
    { schema: { tags: ["metadata"], summary: "All metadata entries", params: S.nameParams } },
    async (req) => {
      const s = await registry.get(req.params.name);
      const ids = s.index
        .ids()
        .map(Number)
        .sort((a, b) => a - b);
      const metadata = ids.map((id) => metaOf(s, id)).filter((m) => m !== null);
      return { metadata, count: metadata.length };
    },
  );

  app.get<Name>(
    "/indices/:name/metadata/count",
    { schema: { tags: ["metadata"], summary: "Number of metadata entries", params: S.nameParams } },
    async (req) => {
      const s = await registry.get(req.params.name);
      return { count: s.index.count(), has_metadata: s.populated };
    },
  );

  app.post<Name & { Body: { document_ids: number[] } }>(
    "/indices/:name/metadata/check",
    {
      schema: {
        tags: ["metadata"],
        summary: "Which document ids have metadata",
        params: S.nameParams,
        body: S.checkMetadataBody,
      },
    },
    async (req) => {
      const s = await registry.get(req.params.name);
      const existing_ids: number[] = [];
      const missing_ids: number[] = [];
      for (const id of req.body.document_ids)
        (s.index.has(String(id)) ? existing_ids : missing_ids).push(id);
      return {
        existing_ids,
        missing_ids,
        existing_count: existing_ids.length,
        missing_count: missing_ids.length,
      };
    },
  );

  app.post<Name & { Body: { condition: string; parameters?: unknown[] } }>(
    "/indices/:name/metadata/query",
    {
      schema: {
        tags: ["metadata"],
        summary: "Document ids matching a SQL condition",
        params: S.nameParams,
        body: S.queryMetadataBody,
      },
    },
    async (req) => {
      const s = await registry.get(req.params.name);
      const document_ids = filterIds(s, req.body.condition, req.body.parameters);
      return { document_ids, count: document_ids.length };
    },
  );

  app.post<
    Name & {
      Body: {
        document_ids?: number[] | null;
        condition?: string | null;
        parameters?: unknown[];
        limit?: number | null;
      };
    }
  >(
    "/indices/:name/metadata/get",
    {
      schema: {
        tags: ["metadata"],
        summary: "Metadata by ids or SQL condition",
        params: S.nameParams,
        body: S.getMetadataBody,
      },
    },
    async (req) => {
      const s = await registry.get(req.params.name);
      const { document_ids, condition, parameters, limit } = req.body;
      if (document_ids && condition)
        throw badRequest("Cannot specify both document_ids and condition");
      const ids =
        document_ids ??
        (condition
          ? filterIds(s, condition, parameters)
          : s.index
              .ids()
              .map(Number)
              .sort((a, b) => a - b));
      let metadata = ids.map((id) => metaOf(s, id)).filter((m) => m !== null);
      if (typeof limit === "number") metadata = metadata.slice(0, limit);
      return { metadata, count: metadata.length };
    },
  );

  app.post<Name & { Body: { condition: string; parameters?: unknown[]; updates: unknown } }>(
    "/indices/:name/metadata/update",
    {
      schema: {
        tags: ["metadata"],
        summary: "Set metadata fields on the documents matching a SQL condition",
        params: S.nameParams,
        body: {
          type: "object",
          required: ["condition", "updates"],
          properties: {
            condition: { type: "string" },
            parameters: S.queryMetadataBody.properties.parameters,
            updates: {},
          },
        },
      },
    },
    async (req) => {
      const s = await registry.get(req.params.name);
      const u = req.body.updates;
      if (!u || typeof u !== "object" || Array.isArray(u))
        throw badRequest("Updates must be a JSON object");
      if ("_subset_" in u) throw badRequest("Cannot update the _subset_ column");
      const ids = filterIds(s, req.body.condition, req.body.parameters).map(String);
      const metas = ids.map((id) => ({
        ...(s.index.metadata(id) ?? {}),
        ...(u as DocumentMetadata),
      }));
      await s.index.setMetadata(ids, metas.map(withText));
      return { updated: ids.length };
    },
  );
}

/** The request's metadata, or one empty object per document when it sent none. */
function metaOrEmpty(b: {
  documents: unknown[];
  metadata?: DocumentMetadata[];
}): DocumentMetadata[] {
  return b.metadata ?? b.documents.map(() => ({}));
}

function withText(m: DocumentMetadata): DocumentMetadata {
  const { [TEXT_FIELD]: _t, ...rest } = m;
  return { ...rest, [TEXT_FIELD]: metadataText(rest) };
}
