import type {
  CheckMetadataResponse,
  CreateIndexResponse,
  Embeddings,
  EmbeddingsResponse,
  EncodeResponse,
  ErrorResponse,
  HealthResponse,
  IndexConfig,
  IndexInfo,
  Metadata,
  MetadataCount,
  MetadataResponse,
  QueryMetadataResponse,
  RerankResponse,
  SearchParams,
  SearchRequest,
  SearchResponse,
  TextSearchRequest,
  UpdateIndexConfigResponse,
  WriteDone,
} from "./types.js";

export type * from "./types.js";

/** An error answer of the server: its HTTP status and next-plaid's `{ code, message, details }`. */
export class TslateApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;
  constructor(status: number, body: ErrorResponse) {
    super(`${status} ${body.code}: ${body.message}`);
    this.name = "TslateApiError";
    this.status = status;
    this.code = body.code;
    this.details = body.details;
  }
}

export interface ClientOptions {
  /** Sent as `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Headers added to every request. */
  headers?: Record<string, string>;
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch;
}

/** Write options: `wait` makes the server answer after the commit (tslate extension). */
export interface WriteOptions {
  wait?: boolean;
}

/**
 * A typed client for tslate serve, and for next-plaid servers (same routes and JSON; `wait`
 * is tslate's). Methods reject with TslateApiError on error answers.
 *
 *   const client = new TslateClient("http://127.0.0.1:8080");
 *   await client.createIndex("docs", { nbits: 4 });
 *   await client.update("docs", [{ embeddings: [[0.1, 0.2]] }], [{ title: "a" }], { wait: true });
 *   const { results } = await client.search("docs", { queries: [{ embeddings: [[0.1, 0.2]] }] });
 */
export class TslateClient {
  readonly baseUrl: string;
  private readonly options: ClientOptions;

  constructor(baseUrl: string, options: ClientOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.options = options;
  }

  /** One request; JSON in and out. */
  async request<T>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<T> {
    const h: Record<string, string> = { ...this.options.headers, ...headers };
    if (this.options.apiKey) h.authorization = `Bearer ${this.options.apiKey}`;
    if (body !== undefined) h["content-type"] = "application/json";
    const res = await (this.options.fetch ?? fetch)(this.baseUrl + path, {
      method,
      headers: h,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const err =
        json && typeof json === "object" && "code" in json
          ? (json as ErrorResponse)
          : { code: `HTTP_${res.status}`, message: text };
      throw new TslateApiError(res.status, err);
    }
    return json as T;
  }

  private path(name: string, rest = ""): string {
    return `/indices/${encodeURIComponent(name)}${rest}`;
  }

  private static wait(o?: WriteOptions): string {
    return o?.wait ? "?wait=true" : "";
  }

  health(): Promise<HealthResponse> {
    return this.request("GET", "/health");
  }

  listIndices(): Promise<string[]> {
    return this.request("GET", "/indices");
  }

  createIndex(name: string, config: IndexConfig = {}): Promise<CreateIndexResponse> {
    return this.request("POST", "/indices", { name, config });
  }

  getIndex(name: string): Promise<IndexInfo> {
    return this.request("GET", this.path(name));
  }

  deleteIndex(name: string): Promise<{ deleted: boolean; name: string }> {
    return this.request("DELETE", this.path(name));
  }

  updateIndexConfig(name: string, maxDocuments: number | null): Promise<UpdateIndexConfigResponse> {
    return this.request("PUT", this.path(name, "/config"), { max_documents: maxDocuments });
  }

  /** Adds documents with embeddings: a queued-message string (202), or WriteDone with `wait`. */
  update(
    name: string,
    documents: Embeddings[],
    metadata: Metadata[],
    options?: WriteOptions,
  ): Promise<string | WriteDone> {
    return this.request("POST", this.path(name, `/update${TslateClient.wait(options)}`), {
      documents,
      metadata,
    });
  }

  /** Adds documents as text (the server encodes them; needs --model). */
  updateWithEncoding(
    name: string,
    documents: string[],
    metadata: Metadata[],
    options: WriteOptions & { poolFactor?: number } = {},
  ): Promise<string | WriteDone> {
    return this.request(
      "POST",
      this.path(name, `/update_with_encoding${TslateClient.wait(options)}`),
      {
        documents,
        metadata,
        ...(options.poolFactor ? { pool_factor: options.poolFactor } : {}),
      },
    );
  }

  /** next-plaid's legacy add to an index that already has documents. */
  addDocuments(
    name: string,
    documents: Embeddings[],
    metadata: Metadata[],
    options?: WriteOptions,
  ): Promise<string | WriteDone> {
    return this.request("POST", this.path(name, `/documents${TslateClient.wait(options)}`), {
      documents,
      metadata,
    });
  }

  /** Deletes the documents whose metadata matches a SQL condition with `?` parameters. */
  deleteDocuments(
    name: string,
    condition: string,
    parameters: unknown[] = [],
    options?: WriteOptions,
  ): Promise<string | WriteDone> {
    return this.request("DELETE", this.path(name, `/documents${TslateClient.wait(options)}`), {
      condition,
      parameters,
    });
  }

  search(name: string, request: SearchRequest): Promise<SearchResponse> {
    return this.request("POST", this.path(name, "/search"), request);
  }

  searchFiltered(
    name: string,
    queries: Embeddings[],
    filterCondition: string,
    filterParameters: unknown[] = [],
    params: SearchParams = {},
  ): Promise<SearchResponse> {
    return this.request("POST", this.path(name, "/search/filtered"), {
      queries,
      params,
      filter_condition: filterCondition,
      filter_parameters: filterParameters,
    });
  }

  /** Text queries (the server encodes them; needs --model); with a filter, the filtered route. */
  searchWithEncoding(name: string, request: TextSearchRequest): Promise<SearchResponse> {
    const route =
      request.filter_condition !== undefined
        ? "/search/filtered_with_encoding"
        : "/search_with_encoding";
    return this.request("POST", this.path(name, route), request);
  }

  getAllMetadata(name: string): Promise<MetadataResponse> {
    return this.request("GET", this.path(name, "/metadata"));
  }

  metadataCount(name: string): Promise<MetadataCount> {
    return this.request("GET", this.path(name, "/metadata/count"));
  }

  checkMetadata(name: string, documentIds: number[]): Promise<CheckMetadataResponse> {
    return this.request("POST", this.path(name, "/metadata/check"), { document_ids: documentIds });
  }

  queryMetadata(
    name: string,
    condition: string,
    parameters: unknown[] = [],
  ): Promise<QueryMetadataResponse> {
    return this.request("POST", this.path(name, "/metadata/query"), { condition, parameters });
  }

  getMetadata(
    name: string,
    request: {
      document_ids?: number[];
      condition?: string;
      parameters?: unknown[];
      limit?: number;
    },
  ): Promise<MetadataResponse> {
    return this.request("POST", this.path(name, "/metadata/get"), request);
  }

  updateMetadata(
    name: string,
    condition: string,
    parameters: unknown[],
    updates: Metadata,
  ): Promise<{ updated: number }> {
    return this.request("POST", this.path(name, "/metadata/update"), {
      condition,
      parameters,
      updates,
    });
  }

  /** Encodes texts (needs --model); `base64` asks for base64 float32 matrices. */
  encode(
    texts: string[],
    inputType: "query" | "document",
    options: { poolFactor?: number; base64?: boolean } = {},
  ): Promise<EncodeResponse> {
    return this.request(
      "POST",
      "/encode",
      {
        texts,
        input_type: inputType,
        ...(options.poolFactor ? { pool_factor: options.poolFactor } : {}),
      },
      options.base64 ? { "x-embeddings-format": "base64" } : {},
    );
  }

  rerank(query: number[][], documents: Embeddings[]): Promise<RerankResponse> {
    return this.request("POST", "/rerank", { query, documents });
  }

  rerankWithEncoding(
    query: string,
    documents: string[],
    poolFactor?: number,
  ): Promise<RerankResponse> {
    return this.request("POST", "/rerank_with_encoding", {
      query,
      documents,
      ...(poolFactor ? { pool_factor: poolFactor } : {}),
    });
  }

  /** PyLate's OpenAI-style embeddings: one multi-vector embedding per input. */
  embeddings(
    input: string | string[],
    options: { model?: string; isQuery?: boolean } = {},
  ): Promise<EmbeddingsResponse> {
    return this.request("POST", "/v1/embeddings", {
      input,
      ...(options.model !== undefined ? { model: options.model } : {}),
      ...(options.isQuery !== undefined ? { is_query: options.isQuery } : {}),
      encoding_format: "float",
    });
  }
}
