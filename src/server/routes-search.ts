import type { FastifyInstance } from "fastify";
import { fuseRrf, fuseRsf } from "../indexes/fusion.js";
import type { MetadataFilter, SearchResult } from "../indexes/types.js";
import { maxSim } from "../scores/maxsim.js";
import type { Matrix } from "../util/matrix.js";
import type { ServerContext } from "./app.js";
import {
  decodeBase64Matrix,
  type EmbeddingsInput,
  jsonMatrix,
  matrixBase64,
  matrixRows,
  toMatrix,
} from "./embeddings.js";
import { badRequest, dimensionMismatch, modelNotLoaded } from "./errors.js";
import { publicMetadata, type ServedIndex } from "./registry.js";
import * as S from "./schemas.js";

type Name = { Params: { name: string } };

interface SearchParams {
  top_k?: number | null;
  n_ivf_probe?: number | null;
  n_full_scores?: number | null;
  centroid_score_threshold?: number | null;
}

/** The unified search request (next-plaid's SearchRequest), embeddings already decoded. */
interface SearchInput {
  queries: Matrix[] | null;
  params: SearchParams;
  subset: number[] | null;
  text_query: string[] | null;
  alpha: number | null;
  fusion: string | null;
  filter_condition: string | null;
  filter_parameters: unknown[] | null;
}

/** next-plaid's defaults for a request that does not set them (n_full_scores 4096, top_k 10). */
const DEFAULT_TOP_K = 10;

/**
 * Semantic (ParallelSearcher: the last committed generation, while writes go on), keyword
 * (FTS5 BM25 on the main thread) or hybrid search, as next-plaid's /search answers it.
 */
async function runSearch(s: ServedIndex, req: SearchInput) {
  const hasQueries = !!req.queries && req.queries.length > 0;
  const hasText = !!req.text_query && req.text_query.length > 0;
  if (!hasQueries && !hasText) {
    throw badRequest(
      "At least one of 'queries' (embeddings) or 'text_query' (keyword) must be provided",
    );
  }
  const alpha = req.alpha ?? 0.75;
  if (!(alpha >= 0 && alpha <= 1)) throw badRequest("alpha must be between 0.0 and 1.0");
  const fusion = req.fusion ?? "relative_score";
  if (fusion !== "rrf" && fusion !== "relative_score")
    throw badRequest("fusion must be 'rrf' or 'relative_score'");
  if (hasQueries && hasText && req.queries!.length !== req.text_query!.length) {
    throw badRequest(
      `queries length (${req.queries!.length}) must match text_query length (${req.text_query!.length}) in hybrid mode`,
    );
  }
  const topK = req.params.top_k ?? DEFAULT_TOP_K;
  const filter: MetadataFilter | undefined =
    req.filter_condition !== null && req.filter_condition !== undefined
      ? { sql: req.filter_condition, params: req.filter_parameters ?? [] }
      : undefined;
  if (filter) {
    // A bad or hostile condition is a 400 here, before any worker sees it.
    try {
      s.index.filterIds(filter);
    } catch (err) {
      throw badRequest(`Invalid filter condition: ${(err as Error).message}`);
    }
  }
  const subset = req.subset ? req.subset.map(String) : undefined;
  const fetchK = hasQueries && hasText ? topK * 3 : topK;
  let semantic: SearchResult[][] | null = null;
  if (hasQueries) {
    for (const q of req.queries!)
      if (q.cols !== s.index.dim) throw dimensionMismatch(s.index.dim, q.cols);
    const searcher = await s.searcherFor();
    semantic = await searcher.search(req.queries!, {
      k: fetchK,
      filter,
      subset,
      nIvfProbe: req.params.n_ivf_probe ?? undefined,
      nFullScores: req.params.n_full_scores ?? 4096,
      centroidScoreThreshold: req.params.centroid_score_threshold ?? null,
    });
  }
  let keyword: SearchResult[][] | null = null;
  if (hasText)
    keyword = await s.index.keywordSearch(req.text_query!, { k: fetchK, filter, subset });
  const n = hasText ? req.text_query!.length : req.queries!.length;
  const results = [];
  for (let i = 0; i < n; i++) {
    let hits: SearchResult[];
    if (semantic && keyword) {
      hits =
        fusion === "rrf"
          ? fuseRrf([semantic[i], keyword[i]], 60, topK)
          : fuseRsf(semantic[i], keyword[i], alpha, topK);
    } else hits = (semantic ?? keyword)![i].slice(0, topK);
    results.push({
      query_id: i,
      document_ids: hits.map((h) => Number(h.id)),
      scores: hits.map((h) => h.score),
      metadata: hits.map((h) => publicMetadata(h.id, s.index.metadata(h.id))),
    });
  }
  return { results, num_queries: n };
}

/** MaxSim of one query against each document, best first (next-plaid's /rerank answer). */
function rerankAnswer(query: Matrix, documents: Matrix[]) {
  const results = documents.map((d, index) => {
    if (d.cols !== query.cols) throw dimensionMismatch(query.cols, d.cols);
    const score = maxSim(query, d);
    if (!Number.isFinite(score)) throw badRequest("Rerank score contains non-finite value");
    return { index, score };
  });
  results.sort((a, b) => b.score - a.score || a.index - b.index);
  return { results, num_documents: documents.length };
}

export function registerSearchRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { registry } = ctx;
  const encoder = () => {
    if (!ctx.encoder) throw modelNotLoaded();
    return ctx.encoder;
  };
  const decodeQueries = (qs: EmbeddingsInput[] | null | undefined) =>
    qs ? qs.map((q) => toMatrix(q, "query")) : null;

  app.post<Name & { Body: Record<string, unknown> }>(
    "/indices/:name/search",
    {
      schema: {
        tags: ["search"],
        summary:
          "Semantic (queries), keyword (text_query) or hybrid search, with optional subset and SQL filter",
        params: S.nameParams,
        body: S.searchBody,
      },
    },
    async (req) => {
      const b = req.body as unknown as Omit<SearchInput, "queries"> & {
        queries?: EmbeddingsInput[] | null;
      };
      const hasQueries = Array.isArray(b.queries) && b.queries.length > 0;
      const s = hasQueries
        ? await registry.getPopulated(req.params.name)
        : await registry.get(req.params.name);
      return runSearch(s, {
        queries: decodeQueries(b.queries),
        params: b.params ?? {},
        subset: b.subset ?? null,
        text_query: b.text_query ?? null,
        alpha: b.alpha ?? null,
        fusion: b.fusion ?? null,
        filter_condition: b.filter_condition ?? null,
        filter_parameters: b.filter_parameters ?? null,
      });
    },
  );

  app.post<
    Name & {
      Body: {
        queries: EmbeddingsInput[];
        params?: SearchParams;
        filter_condition: string;
        filter_parameters?: unknown[];
      };
    }
  >(
    "/indices/:name/search/filtered",
    {
      schema: {
        tags: ["search"],
        summary: "Search with a SQL metadata filter (legacy)",
        params: S.nameParams,
        body: S.filteredSearchBody,
      },
    },
    async (req) => {
      if (req.body.queries.length === 0) throw badRequest("No queries provided");
      const s = await registry.getPopulated(req.params.name);
      return runSearch(s, {
        queries: decodeQueries(req.body.queries),
        params: req.body.params ?? {},
        subset: null,
        text_query: null,
        alpha: null,
        fusion: null,
        filter_condition: req.body.filter_condition,
        filter_parameters: req.body.filter_parameters ?? [],
      });
    },
  );

  type TextSearch = {
    queries: string[];
    params?: SearchParams;
    subset?: number[] | null;
    text_query?: string[] | null;
    alpha?: number | null;
    fusion?: string | null;
    filter_condition?: string;
    filter_parameters?: unknown[];
  };
  const textSearch = async (name: string, b: TextSearch) => {
    if (b.queries.length === 0) throw badRequest("No queries provided");
    const enc = encoder();
    const s = await registry.getPopulated(name);
    const queries = await enc.encode(b.queries, true);
    return runSearch(s, {
      queries,
      params: b.params ?? {},
      subset: b.subset ?? null,
      text_query: b.text_query ?? null,
      alpha: b.alpha ?? null,
      fusion: b.fusion ?? null,
      filter_condition: b.filter_condition ?? null,
      filter_parameters: b.filter_parameters ?? null,
    });
  };
  app.post<Name & { Body: TextSearch }>(
    "/indices/:name/search_with_encoding",
    {
      schema: {
        tags: ["search"],
        summary: "Search with text queries (needs --model)",
        params: S.nameParams,
        body: S.searchWithEncodingBody,
      },
    },
    async (req) => textSearch(req.params.name, req.body),
  );
  app.post<Name & { Body: TextSearch }>(
    "/indices/:name/search/filtered_with_encoding",
    {
      schema: {
        tags: ["search"],
        summary: "Text search with a SQL metadata filter (needs --model)",
        params: S.nameParams,
        body: S.filteredSearchWithEncodingBody,
      },
    },
    async (req) => textSearch(req.params.name, req.body),
  );

  app.post<{
    Body: { texts: string[]; input_type: "query" | "document"; pool_factor?: number | null };
  }>(
    "/encode",
    {
      schema: {
        tags: ["encoding"],
        summary: "Encode texts (JSON, or base64 with X-Embeddings-Format: base64)",
        body: S.encodeBody,
      },
    },
    async (req) => {
      if (req.body.texts.length === 0) throw badRequest("No texts provided");
      const isQuery = req.body.input_type === "query";
      const out = await encoder().encode(
        req.body.texts,
        isQuery,
        isQuery ? 1 : (req.body.pool_factor ?? 1),
      );
      const b64 = String(req.headers["x-embeddings-format"] ?? "").toLowerCase() === "base64";
      return b64
        ? {
            embeddings_b64: out.map(matrixBase64),
            shapes: out.map((m) => [m.rows, m.cols]),
            num_texts: out.length,
          }
        : { embeddings: out.map(matrixRows), num_texts: out.length };
    },
  );

  app.post<{
    Body: {
      query?: number[][] | null;
      query_b64?: string | null;
      query_shape?: [number, number] | null;
      documents: EmbeddingsInput[];
    };
  }>(
    "/rerank",
    {
      schema: {
        tags: ["reranking"],
        summary: "Rerank documents by MaxSim against a query (embeddings)",
        body: S.rerankBody,
      },
    },
    async (req) => {
      const b = req.body;
      if (b.documents.length === 0) throw badRequest("No documents provided");
      let query: Matrix;
      if (typeof b.query_b64 === "string" && Array.isArray(b.query_shape))
        query = decodeBase64Matrix(b.query_b64, b.query_shape, "query");
      else if (Array.isArray(b.query)) query = jsonMatrix(b.query, "query");
      else throw badRequest("Must provide either 'query' or 'query_b64' + 'query_shape'");
      return rerankAnswer(
        query,
        b.documents.map((d) => toMatrix(d, "document")),
      );
    },
  );

  app.post<{ Body: { query: string; documents: string[]; pool_factor?: number | null } }>(
    "/rerank_with_encoding",
    {
      schema: {
        tags: ["reranking"],
        summary: "Rerank text documents against a text query (needs --model)",
        body: S.rerankWithEncodingBody,
      },
    },
    async (req) => {
      if (req.body.query.trim() === "") throw badRequest("Empty query text");
      if (req.body.documents.length === 0) throw badRequest("No documents provided");
      const enc = encoder();
      const [[query], documents] = await Promise.all([
        enc.encode([req.body.query], true),
        enc.encode(req.body.documents, false, req.body.pool_factor ?? 1),
      ]);
      return rerankAnswer(query, documents);
    },
  );

  app.post<{
    Body: {
      input: string | string[];
      model?: string;
      is_query?: boolean;
      encoding_format?: "float" | "base64";
    };
  }>(
    "/v1/embeddings",
    {
      schema: {
        tags: ["encoding"],
        summary: "OpenAI-style embeddings (PyLate's server): one multi-vector embedding per input",
        body: S.openAiEmbeddingsBody,
      },
    },
    async (req) => {
      const enc = encoder();
      const b = req.body;
      const inputs = typeof b.input === "string" ? [b.input] : b.input;
      if (inputs.length === 0) throw badRequest("input must hold at least one text");
      if (b.model !== undefined && b.model !== enc.modelPath && b.model !== enc.modelName) {
        throw badRequest(
          `Model not supported, the loaded model is ${enc.modelName}, but the request is for ${b.model}`,
        );
      }
      const out = await enc.encode(inputs, b.is_query ?? true);
      const tokens = inputs.reduce((n, t) => n + t.split(/\s+/).filter(Boolean).length, 0);
      return {
        object: "list",
        data: out.map((m, index) => ({
          object: "embedding",
          index,
          // base64: the matrix's float32 values row after row (OpenAI clients decode a flat list).
          embedding: b.encoding_format === "base64" ? matrixBase64(m) : matrixRows(m),
        })),
        model: b.model ?? enc.modelName,
        usage: { prompt_tokens: tokens, total_tokens: tokens },
      };
    },
  );
}
