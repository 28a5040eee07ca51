import { ConfigError, InvalidArgumentError } from "../../util/errors.js";
import type { BaseIndexOptions } from "../base.js";
import type { SearchOptions } from "../types.js";
import type { Codec } from "./codec.js";

/**
 * PLAID's settings: how an index is built (stored in its manifest) and how it is searched
 * (defaults stored in the manifest, each search call may override them).
 */

/** How a PLAID index is built (fast-plaid's defaults). Stored in the manifest. */
export interface PlaidConfig {
  /** Bits per residual dimension: 1, 2, 4 or 8 (default 4). */
  nbits: number;
  /** Lloyd iterations of k-means (default 4). */
  kmeansIterations: number;
  /** k-means trains on at most K × this many tokens (default 256). */
  maxPointsPerCentroid: number;
  /** K; null = 2^floor(log2(16·sqrt(tokens))) (default null). */
  numCentroids: number | null;
  /** Seed of sampling and k-means (default 42). */
  seed: number;
  /**
   * Streaming builds keep at most this many token embeddings in memory (the k-means sample
   * and the current batch); the rest waits in a spill file on disk. Default 2^19 tokens:
   * 524,288 × 128 dims × 4 bytes = 256 MB.
   */
  buildMemoryTokens: number;
  /** Tokens per chunk file written by a streaming build (default 65,536). */
  chunkTokens: number;
}

export const DEFAULT_PLAID_CONFIG: Readonly<PlaidConfig> = Object.freeze({
  nbits: 4,
  kmeansIterations: 4,
  maxPointsPerCentroid: 256,
  numCentroids: null,
  seed: 42,
  buildMemoryTokens: 2 ** 19,
  chunkTokens: 65_536,
});

/** How a PLAID index is searched (fast-plaid's defaults). */
export interface PlaidSearchParameters {
  /** Centroids probed per query token (default 8). */
  nIvfProbe: number;
  /** Candidates kept after the approximate (centroid) scores; a quarter of them are decompressed and scored exactly (default 8192). */
  nFullScores: number;
  /**
   * next-plaid's centroid_score_threshold: a probed centroid whose best score over the query
   * tokens is below this value is not opened (fewer candidates; approximate scores still use
   * every centroid). null = no pruning (default, fast-plaid; next-plaid's default is 0.4).
   */
  centroidScoreThreshold: number | null;
}

export const DEFAULT_PLAID_SEARCH: Readonly<PlaidSearchParameters> = Object.freeze({
  nIvfProbe: 8,
  nFullScores: 8192,
  centroidScoreThreshold: null,
});

export interface PlaidOptions extends BaseIndexOptions, Partial<PlaidConfig> {
  /** Default search parameters of this index. */
  search?: Partial<PlaidSearchParameters>;
  /**
   * A codec trained elsewhere (another shard, an earlier index): the first add encodes with
   * it instead of training one. Its dim and nbits must match the index's.
   */
  codec?: Codec;
}

export interface PlaidSearchOptions extends SearchOptions, Partial<PlaidSearchParameters> {}

/** PLAID's search options beyond k, filter and subset. */
export const PLAID_SEARCH_KEYS: readonly (keyof PlaidSearchParameters)[] = [
  "nIvfProbe",
  "nFullScores",
  "centroidScoreThreshold",
];

/** Drift of an index updated after training: when to rebuild. */
export interface PlaidDrift {
  initialCentroids: number;
  addedCentroids: number;
  tokensAddedAfterTraining: number;
  outlierTokens: number;
  /** True when added centroids exceed 25% of the trained ones. */
  rebuildRecommended: boolean;
}

export function checkConfig(c: PlaidConfig): void {
  if (![1, 2, 4, 8].includes(c.nbits))
    throw new ConfigError(`nbits must be 1, 2, 4 or 8, got ${c.nbits}`);
  const ints: [string, number, number][] = [
    ["kmeansIterations", c.kmeansIterations, 1],
    ["maxPointsPerCentroid", c.maxPointsPerCentroid, 1],
    ["buildMemoryTokens", c.buildMemoryTokens, 1024],
    ["chunkTokens", c.chunkTokens, 1],
  ];
  for (const [name, v, min] of ints) {
    if (!Number.isInteger(v) || v < min)
      throw new ConfigError(`${name} must be an integer >= ${min}, got ${v}`);
  }
  if (c.numCentroids !== null && (!Number.isInteger(c.numCentroids) || c.numCentroids < 1)) {
    throw new ConfigError(`numCentroids must be a positive integer or null, got ${c.numCentroids}`);
  }
}

export function checkSearch(p: PlaidSearchParameters): void {
  for (const name of ["nIvfProbe", "nFullScores"] as const) {
    const v = p[name];
    if (!Number.isInteger(v) || v < 1)
      throw new InvalidArgumentError(`${name} must be a positive integer, got ${v}`);
  }
  const t = p.centroidScoreThreshold;
  if (t !== null && (typeof t !== "number" || !Number.isFinite(t))) {
    throw new InvalidArgumentError(
      `centroidScoreThreshold must be a finite number or null (no pruning), got ${t}`,
    );
  }
}
