/**
 * JSON schemas of the request bodies (Fastify validates every body against them with ajv,
 * and @fastify/swagger turns them into the OpenAPI document). Field names and optionality
 * follow next-plaid-api's models.rs; `additionalProperties` stays open, as serde's is.
 */

const num = { type: "number" } as const;
const int0 = { type: "integer", minimum: 0 } as const;
const int1 = { type: "integer", minimum: 1 } as const;
const nullable = <T extends object>(s: T) => ({ anyOf: [s, { type: "null" }] });

export const embeddingsSchema = {
  type: "object",
  description:
    "Embedding matrix: `embeddings` [num_tokens, dim], or `embeddings_b64` (little-endian f32) + `shape`",
  properties: {
    embeddings: nullable({ type: "array", items: { type: "array", items: num } }),
    embeddings_b64: nullable({ type: "string" }),
    shape: nullable({ type: "array", items: int0, minItems: 2, maxItems: 2 }),
  },
} as const;

const metadataItem = { type: "object", additionalProperties: true } as const;
const sqlParams = {
  type: "array",
  items: { type: ["string", "number", "boolean", "null"] },
} as const;

export const searchParamsSchema = {
  type: "object",
  properties: {
    top_k: nullable(int1),
    n_ivf_probe: nullable(int1),
    n_full_scores: nullable(int1),
    centroid_score_threshold: nullable(num),
  },
} as const;

export const nameParams = {
  type: "object",
  required: ["name"],
  // The same rule as IndexRegistry.pathOf (checked there too): no '/', no leading '.'.
  properties: { name: { type: "string", pattern: "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$" } },
} as const;

export const waitQuery = {
  type: "object",
  properties: {
    wait: {
      type: "string",
      enum: ["true", "false", "1", "0"],
      description:
        "tslate extension: answer 200 once the write is committed on disk (default: 202 at once, as next-plaid)",
    },
  },
} as const;

export const createIndexBody = {
  type: "object",
  required: ["name"],
  properties: {
    name: { type: "string" },
    config: {
      type: "object",
      properties: {
        nbits: nullable({ type: "integer", enum: [1, 2, 4, 8] }),
        batch_size: nullable(int1),
        seed: nullable(int0),
        start_from_scratch: nullable(int0),
        max_documents: nullable(int1),
        fts_tokenizer: nullable({ type: "string" }),
      },
    },
  },
} as const;

export const updateConfigBody = {
  type: "object",
  required: ["max_documents"],
  properties: { max_documents: nullable(int1) },
} as const;

export const updateBody = {
  type: "object",
  // next-plaid requires metadata; its Python SDK omits it when there is none: {} per document then.
  required: ["documents"],
  properties: {
    documents: { type: "array", items: embeddingsSchema },
    metadata: { type: "array", items: metadataItem },
  },
} as const;

export const updateWithEncodingBody = {
  type: "object",
  // next-plaid requires metadata; its Python SDK omits it when there is none: {} per document then.
  required: ["documents"],
  properties: {
    documents: { type: "array", items: { type: "string" } },
    metadata: { type: "array", items: metadataItem },
    pool_factor: nullable(int1),
  },
} as const;

export const deleteDocumentsBody = {
  type: "object",
  required: ["condition"],
  properties: { condition: { type: "string" }, parameters: sqlParams },
} as const;

const hybridFields = {
  text_query: nullable({ type: "array", items: { type: "string" } }),
  alpha: nullable(num),
  fusion: nullable({ type: "string" }),
} as const;

export const searchBody = {
  type: "object",
  properties: {
    queries: nullable({ type: "array", items: embeddingsSchema }),
    params: searchParamsSchema,
    subset: nullable({ type: "array", items: { type: "integer" } }),
    ...hybridFields,
    filter_condition: nullable({ type: "string" }),
    filter_parameters: nullable(sqlParams),
  },
} as const;

export const filteredSearchBody = {
  type: "object",
  required: ["queries", "filter_condition"],
  properties: {
    queries: { type: "array", items: embeddingsSchema },
    params: searchParamsSchema,
    filter_condition: { type: "string" },
    filter_parameters: sqlParams,
  },
} as const;

export const searchWithEncodingBody = {
  type: "object",
  required: ["queries"],
  properties: {
    queries: { type: "array", items: { type: "string" } },
    params: searchParamsSchema,
    subset: nullable({ type: "array", items: { type: "integer" } }),
    ...hybridFields,
  },
} as const;

export const filteredSearchWithEncodingBody = {
  type: "object",
  required: ["queries", "filter_condition"],
  properties: {
    queries: { type: "array", items: { type: "string" } },
    params: searchParamsSchema,
    filter_condition: { type: "string" },
    filter_parameters: sqlParams,
    ...hybridFields,
  },
} as const;

export const checkMetadataBody = {
  type: "object",
  required: ["document_ids"],
  properties: { document_ids: { type: "array", items: { type: "integer" } } },
} as const;

export const queryMetadataBody = {
  type: "object",
  required: ["condition"],
  properties: { condition: { type: "string" }, parameters: sqlParams },
} as const;

export const getMetadataBody = {
  type: "object",
  properties: {
    document_ids: nullable({ type: "array", items: { type: "integer" } }),
    condition: nullable({ type: "string" }),
    parameters: sqlParams,
    limit: nullable(int0),
  },
} as const;

export const encodeBody = {
  type: "object",
  required: ["texts", "input_type"],
  properties: {
    texts: { type: "array", items: { type: "string" } },
    input_type: { type: "string", enum: ["query", "document"] },
    pool_factor: nullable(int1),
  },
} as const;

export const rerankBody = {
  type: "object",
  required: ["documents"],
  properties: {
    query: nullable({ type: "array", items: { type: "array", items: num } }),
    query_b64: nullable({ type: "string" }),
    query_shape: nullable({ type: "array", items: int0, minItems: 2, maxItems: 2 }),
    documents: { type: "array", items: embeddingsSchema },
  },
} as const;

export const rerankWithEncodingBody = {
  type: "object",
  required: ["query", "documents"],
  properties: {
    query: { type: "string" },
    documents: { type: "array", items: { type: "string" } },
    pool_factor: nullable(int1),
  },
} as const;

/** PyLate's EmbeddingRequest (pylate/server/server.py) plus the OpenAI fields clients send. */
export const openAiEmbeddingsBody = {
  type: "object",
  required: ["input"],
  properties: {
    input: { anyOf: [{ type: "string" }, { type: "array", items: { type: "string" } }] },
    model: { type: "string" },
    is_query: { type: "boolean" },
    encoding_format: { type: "string", enum: ["float", "base64"] },
    dimensions: { type: "integer" },
    user: { type: "string" },
  },
} as const;
