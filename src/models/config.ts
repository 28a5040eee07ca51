import { ConfigError } from "../util/errors.js";

/** Python's `string.punctuation`, PyLate's default skiplist. */
export const PUNCTUATION: readonly string[] = Object.freeze([
  ..."!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
]);

/**
 * The ColBERT options PyLate's constructor takes, camelCased. Each maps to one key of
 * `config_sentence_transformers.json` (snake_case), read on load and written on save.
 */
export interface ColBERTConfig {
  /** Added token put after [CLS] in queries ("" = none). Default "[Q] ". */
  queryPrefix: string;
  /** Added token put after [CLS] in documents ("" = none). Default "[D] ". */
  documentPrefix: string;
  /** Query length in tokens after expansion with [MASK] (default 32). */
  queryLength: number;
  /** Maximum document length in tokens (default 180). */
  documentLength: number;
  /** Pad queries to queryLength with [MASK] tokens (default true). */
  doQueryExpansion: boolean;
  /** Let real query tokens attend to the [MASK] expansion tokens (default false). */
  attendToExpansionTokens: boolean;
  /** Single-token words whose embeddings are dropped from documents (default punctuation). */
  skiplistWords: string[];
  /** Named prompts prepended to texts (sentence-transformers `prompts`). */
  prompts: Record<string, string>;
  /** Prompt used when encode() gets none (sentence-transformers `default_prompt_name`). */
  defaultPromptName: string | null;
}

export const DEFAULT_COLBERT_CONFIG: Readonly<ColBERTConfig> = Object.freeze({
  queryPrefix: "[Q] ",
  documentPrefix: "[D] ",
  queryLength: 32,
  documentLength: 180,
  doQueryExpansion: true,
  attendToExpansionTokens: false,
  skiplistWords: [...PUNCTUATION],
  prompts: {},
  defaultPromptName: null,
});

const SNAKE: Record<keyof ColBERTConfig, string> = {
  queryPrefix: "query_prefix",
  documentPrefix: "document_prefix",
  queryLength: "query_length",
  documentLength: "document_length",
  doQueryExpansion: "do_query_expansion",
  attendToExpansionTokens: "attend_to_expansion_tokens",
  skiplistWords: "skiplist_words",
  prompts: "prompts",
  defaultPromptName: "default_prompt_name",
};

/** Reads the ColBERT keys present in a parsed config_sentence_transformers.json. */
export function colbertConfigFromJson(
  json: Record<string, unknown>,
  file: string,
): Partial<ColBERTConfig> {
  const out: Partial<ColBERTConfig> = {};
  for (const [camel, snake] of Object.entries(SNAKE) as [keyof ColBERTConfig, string][]) {
    const v = json[snake];
    if (v === undefined || v === null) continue;
    (out as Record<string, unknown>)[camel] = v;
  }
  validateColBERTConfig(out, file);
  return out;
}

/** Writes the config back in PyLate's key order (colbert.py `save`), keeping unknown keys. */
export function colbertConfigToJson(
  config: ColBERTConfig,
  base: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  out.model_type = out.model_type ?? "ColBERT";
  out.prompts = config.prompts;
  out.default_prompt_name = config.defaultPromptName;
  out.similarity_fn_name = "MaxSim";
  out.query_prefix = config.queryPrefix;
  out.document_prefix = config.documentPrefix;
  out.query_length = config.queryLength;
  out.document_length = config.documentLength;
  out.attend_to_expansion_tokens = config.attendToExpansionTokens;
  out.skiplist_words = config.skiplistWords;
  out.do_query_expansion = config.doQueryExpansion;
  return out;
}

/** Checks types and ranges; `where` names the file or "options" in the error. */
export function validateColBERTConfig(c: Partial<ColBERTConfig>, where: string): void {
  const fail = (key: string, want: string, got: unknown) => {
    throw new ConfigError(`${where}: ${key} must be ${want}, got ${JSON.stringify(got)}`);
  };
  for (const key of ["queryPrefix", "documentPrefix"] as const) {
    if (c[key] !== undefined && typeof c[key] !== "string") fail(key, "a string", c[key]);
  }
  for (const key of ["queryLength", "documentLength"] as const) {
    const v = c[key];
    if (v !== undefined && (!Number.isInteger(v) || (v as number) < 3 || (v as number) > 8192)) {
      fail(key, "an integer between 3 and 8192", v);
    }
  }
  for (const key of ["doQueryExpansion", "attendToExpansionTokens"] as const) {
    if (c[key] !== undefined && typeof c[key] !== "boolean") fail(key, "true or false", c[key]);
  }
  if (
    c.skiplistWords !== undefined &&
    (!Array.isArray(c.skiplistWords) || c.skiplistWords.some((w) => typeof w !== "string"))
  ) {
    fail("skiplistWords", "an array of strings", c.skiplistWords);
  }
  if (
    c.prompts !== undefined &&
    (typeof c.prompts !== "object" ||
      Array.isArray(c.prompts) ||
      Object.values(c.prompts).some((p) => typeof p !== "string"))
  ) {
    fail("prompts", "an object of name -> prompt string", c.prompts);
  }
  if (
    c.defaultPromptName !== undefined &&
    c.defaultPromptName !== null &&
    typeof c.defaultPromptName !== "string"
  ) {
    fail("defaultPromptName", "a string or null", c.defaultPromptName);
  }
}

/**
 * Resolves the final config the way PyLate's constructor does: explicit option, else the
 * value read from the checkpoint, else the default; no expansion forces no attention to it.
 */
export function resolveColBERTConfig(
  options: Partial<ColBERTConfig>,
  fromCheckpoint: Partial<ColBERTConfig>,
): ColBERTConfig {
  validateColBERTConfig(options, "options");
  const pick = <K extends keyof ColBERTConfig>(k: K): ColBERTConfig[K] =>
    (options[k] ?? fromCheckpoint[k] ?? DEFAULT_COLBERT_CONFIG[k]) as ColBERTConfig[K];
  const config: ColBERTConfig = {
    queryPrefix: pick("queryPrefix"),
    documentPrefix: pick("documentPrefix"),
    queryLength: pick("queryLength"),
    documentLength: pick("documentLength"),
    doQueryExpansion: pick("doQueryExpansion"),
    attendToExpansionTokens: pick("attendToExpansionTokens"),
    skiplistWords: [...pick("skiplistWords")],
    prompts: { ...pick("prompts") },
    defaultPromptName: pick("defaultPromptName"),
  };
  if (!config.doQueryExpansion) config.attendToExpansionTokens = false;
  if (config.defaultPromptName !== null && !(config.defaultPromptName in config.prompts)) {
    throw new ConfigError(
      `defaultPromptName "${config.defaultPromptName}" is not one of the prompts (${Object.keys(config.prompts).join(", ") || "none defined"})`,
    );
  }
  return config;
}
