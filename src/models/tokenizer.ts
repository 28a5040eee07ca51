import { Tokenizer } from "@huggingface/tokenizers";
import { ConfigError, InvalidArgumentError } from "../util/errors.js";
import type { ColBERTConfig } from "./config.js";

/** A padded batch of token ids as the backbone takes them ([B, L] row-major, int64). */
export interface TokenizedBatch {
  inputIds: BigInt64Array;
  attentionMask: BigInt64Array;
  tokenTypeIds: BigInt64Array;
  batchSize: number;
  seqLength: number;
  /** Per text, the ids before padding (prefix included): for inspection and output selection. */
  ids: number[][];
}

/**
 * The part of @huggingface/tokenizers' Tokenizer that tslate uses. Exported instead of that
 * class so that our declarations do not pull in its types, which do not type-check under
 * NodeNext resolution with skipLibCheck off (extensionless relative imports).
 */
export interface TextTokenizer {
  encode(text: string, options?: { add_special_tokens?: boolean }): { ids: number[] };
  token_to_id(token: string): number | undefined;
  id_to_token(id: number): string | undefined;
}

export interface TokenizeOptions {
  isQuery?: boolean;
  /** Pad documents to documentLength too (PyLate's collator `pad=True`). */
  pad?: boolean;
}

/** What ColBERTTokenizer needs to know of the model's ColBERT settings. */
export type PrefixSettings = Pick<
  ColBERTConfig,
  | "queryPrefix"
  | "documentPrefix"
  | "queryLength"
  | "documentLength"
  | "doQueryExpansion"
  | "attendToExpansionTokens"
>;

// Python's str.isspace() set, for str.strip() parity (JS trim() differs: it strips U+FEFF and
// keeps U+001C-U+001F and U+0085).
const PY_WS =
  "\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const PY_STRIP = new RegExp(`^[${PY_WS}]+|[${PY_WS}]+$`, "g");
const PY_WS_CHAR = new RegExp(`[${PY_WS}]`);

/** Python's `str.strip()` (sentence-transformers strips every text before tokenizing). */
export function pythonStrip(text: string): string {
  return text.replace(PY_STRIP, "");
}

/**
 * Python's `str.lower()` (sentence-transformers' do_lower_case). Lowered code point by code
 * point: JavaScript's toLowerCase on a whole string turns a word-final capital sigma into
 * "ς", Python always gives "σ".
 */
export function pythonLower(text: string): string {
  let out = "";
  for (const ch of text) out += ch === "\u03a3" ? "\u03c3" : ch.toLowerCase();
  return out;
}

function tokenName(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (v && typeof v === "object" && typeof (v as { content?: unknown }).content === "string") {
    return (v as { content: string }).content;
  }
  return undefined;
}

/**
 * PyLate's tokenisation: strip, tokenize with special tokens, truncate to length-1, pad with
 * the [MASK] id, insert the prefix id after [CLS]. Wraps the pure-JS HF tokenizer (works in
 * browsers too); truncation and padding are done here, the tokenizer.json blocks are ignored
 * exactly as PyLate overrides them on every call.
 */
export class ColBERTTokenizer {
  readonly tokenizer: TextTokenizer;
  readonly padTokenId: number;
  /**
   * The tokenizer's own unknown token (tokenizer_config's unk_token, else tokenizer.json's
   * model.unk_token / unk_id, else [UNK] / <unk>): what transformers' convert_tokens_to_ids
   * gives a word missing from the vocabulary. undefined when the tokenizer has none.
   */
  readonly unkTokenId: number | undefined;
  readonly queryPrefixId: number | null;
  readonly documentPrefixId: number | null;
  /** Number of ids the tokenizer knows (`len(tokenizer)`): embeddings need this many rows. */
  readonly vocabSize: number;
  /** Prefix tokens that were missing from tokenizer.json and were added (new ids). */
  readonly addedTokens: { token: string; id: number }[];
  /** The tokenizer.json content including added prefix tokens, for save(). */
  readonly tokenizerJson: Record<string, unknown>;
  readonly tokenizerConfig: Record<string, unknown>;
  /** Lowercase texts (Python str.lower) before tokenizing: sentence_bert_config.json's do_lower_case. */
  readonly doLowerCase: boolean;
  private readonly head: number[];
  private readonly tail: number[];
  private settings: PrefixSettings;

  constructor(
    tokenizerJson: Record<string, unknown>,
    tokenizerConfig: Record<string, unknown>,
    settings: PrefixSettings,
    specialTokensMap: Record<string, unknown> = {},
    options: { doLowerCase?: boolean } = {},
  ) {
    this.doLowerCase = options.doLowerCase ?? false;
    // PyLate passes its own truncation/padding on every call; drop the saved ones. A shallow
    // copy is enough (only these keys and added_tokens change) and saves ~35 ms on a
    // BERT vocabulary compared with structuredClone.
    const json: Record<string, unknown> = { ...tokenizerJson, truncation: null, padding: null };
    const added = [...((json.added_tokens ?? []) as { id: number; content: string }[])];
    const vocabIds = Object.values(
      ((json.model as { vocab?: unknown })?.vocab ?? {}) as Record<string, number>,
    );
    let size = 0;
    if (Array.isArray((json.model as { vocab?: unknown })?.vocab)) {
      size = (json.model as { vocab: unknown[] }).vocab.length; // Unigram: [token, score][]
    } else {
      for (const id of vocabIds) if (typeof id === "number" && id + 1 > size) size = id + 1;
    }
    for (const t of added) if (t.id + 1 > size) size = t.id + 1;

    // PyLate adds the prefixes as plain (non-special) added tokens when missing.
    const known = new Set(added.map((t) => t.content));
    const addedTokens: { token: string; id: number }[] = [];
    for (const p of [settings.queryPrefix, settings.documentPrefix]) {
      if (p === "" || known.has(p)) continue;
      const model = json.model as { vocab?: Record<string, number> };
      if (model?.vocab && !Array.isArray(model.vocab) && p in model.vocab) continue; // e.g. [unused0]
      added.push({
        id: size,
        content: p,
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: true,
        special: false,
      } as { id: number; content: string });
      addedTokens.push({ token: p, id: size });
      known.add(p);
      size++;
    }
    json.added_tokens = added;
    this.tokenizerJson = json;
    this.tokenizerConfig = tokenizerConfig;
    this.addedTokens = addedTokens;
    this.vocabSize = size;
    this.settings = settings;
    this.tokenizer = new Tokenizer(json, tokenizerConfig);

    const idOf = (name: string | undefined) =>
      name === undefined ? undefined : this.tokenizer.token_to_id(name);
    // Fall back to the class defaults transformers uses when the config does not name them
    // (bert-base-uncased's tokenizer_config.json only holds do_lower_case).
    const defaults: Record<string, string[]> = {
      mask_token: ["[MASK]", "<mask>"],
      eos_token: ["</s>", "<|endoftext|>"],
      pad_token: ["[PAD]", "<pad>"],
      unk_token: ["[UNK]", "<unk>"],
    };
    const special = (key: string) => {
      const named = tokenName(tokenizerConfig[key]) ?? tokenName(specialTokensMap[key]);
      if (named !== undefined) return idOf(named);
      for (const d of defaults[key]) if (idOf(d) !== undefined) return idOf(d);
      return undefined;
    };
    // colbert.py: pad with [MASK] for MLMs, else EOS (LLMs), else the pad token.
    const pad = special("mask_token") ?? special("eos_token") ?? special("pad_token");
    if (pad === undefined) {
      throw new ConfigError(
        "the tokenizer has no mask, eos or pad token to pad queries with; set mask_token in tokenizer_config.json",
      );
    }
    this.padTokenId = pad;
    const model = json.model as { unk_token?: unknown; unk_id?: unknown } | undefined;
    const configUnk = tokenName(tokenizerConfig.unk_token) ?? tokenName(specialTokensMap.unk_token);
    this.unkTokenId =
      (configUnk !== undefined ? idOf(configUnk) : undefined) ??
      (typeof model?.unk_token === "string" ? idOf(model.unk_token) : undefined) ??
      (typeof model?.unk_id === "number" ? model.unk_id : undefined) ??
      special("unk_token");
    this.queryPrefixId = this.prefixId(settings.queryPrefix);
    this.documentPrefixId = this.prefixId(settings.documentPrefix);

    // Learn where the post-processor puts special tokens ([CLS] ... [SEP], <s> ... </s>).
    const withSpecial: number[] = this.tokenizer.encode("a").ids;
    const plain: number[] = this.tokenizer.encode("a", { add_special_tokens: false }).ids;
    const at = withSpecial.findIndex((_: number, i: number) =>
      plain.every((id: number, j: number) => withSpecial[i + j] === id),
    );
    this.head = withSpecial.slice(0, at);
    this.tail = withSpecial.slice(at + plain.length);
  }

  private prefixId(prefix: string): number | null {
    if (prefix === "") return null;
    const id = this.tokenizer.token_to_id(prefix);
    if (id === undefined) {
      throw new ConfigError(`prefix token ${JSON.stringify(prefix)} is not in the vocabulary`);
    }
    return id;
  }

  /** Updates the prefix/length settings (the ids of existing prefixes do not change). */
  updateSettings(settings: PrefixSettings): void {
    this.settings = settings;
  }

  /** Token id of a single token string, or undefined (PyLate's convert_tokens_to_ids). */
  tokenToId(token: string): number | undefined {
    return this.tokenizer.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.tokenizer.id_to_token(id);
  }

  /**
   * Ids of one stripped text with special tokens, truncated to `maxLength` (counting the
   * special tokens, longest_first from the right, as HF does for one sequence).
   */
  encodeTruncated(text: string, maxLength: number): number[] {
    const budget = Math.max(0, maxLength - this.head.length - this.tail.length);
    // sentence-transformers' Transformer.tokenize: strip, then lower when do_lower_case.
    const stripped = pythonStrip(text);
    const body = this.bodyIds(this.doLowerCase ? pythonLower(stripped) : stripped, budget);
    return [...this.head, ...body.slice(0, budget), ...this.tail];
  }

  // Tokenizing a 10 MB text to keep 180 tokens would take seconds: tokenize a prefix cut at
  // whitespace, growing it until it yields more tokens than needed. Tokens before the cut are
  // the same as in the full text because pre-tokenizers split at whitespace.
  private bodyIds(text: string, budget: number): number[] {
    const enc = (t: string) => this.tokenizer.encode(t, { add_special_tokens: false }).ids;
    let chars = Math.max(1024, budget * 32);
    while (text.length > chars * 2) {
      let cut = chars;
      while (cut < text.length && !PY_WS_CHAR.test(text[cut])) cut++;
      if (cut >= text.length) break;
      const ids = enc(text.slice(0, cut));
      if (ids.length >= budget + 2) return ids;
      chars *= 4;
    }
    return enc(text);
  }

  /** PyLate's `ColBERT.tokenize(texts, is_query, pad)`. */
  tokenize(texts: string[], options: TokenizeOptions = {}): TokenizedBatch {
    if (!Array.isArray(texts)) {
      throw new InvalidArgumentError(`texts must be an array of strings, got ${typeof texts}`);
    }
    const s = this.settings;
    const isQuery = options.isQuery ?? false;
    const prefixId = isQuery ? this.queryPrefixId : this.documentPrefixId;
    const length = isQuery ? s.queryLength : s.documentLength;
    const maxLength = prefixId === null ? length : length - 1;
    const padToMax = options.pad === true || (isQuery && s.doQueryExpansion);

    const ids: number[][] = texts.map((text, i) => {
      if (typeof text !== "string") {
        throw new InvalidArgumentError(`texts[${i}] must be a string, got ${typeof text}`);
      }
      const t = this.encodeTruncated(text, maxLength);
      if (prefixId !== null) t.splice(1, 0, prefixId);
      return t;
    });
    const prefixLen = prefixId === null ? 0 : 1;
    let seqLength = padToMax ? maxLength + prefixLen : 0;
    if (!padToMax) for (const t of ids) seqLength = Math.max(seqLength, t.length);

    const B = texts.length;
    const inputIds = new BigInt64Array(B * seqLength).fill(BigInt(this.padTokenId));
    const attentionMask = new BigInt64Array(B * seqLength);
    const tokenTypeIds = new BigInt64Array(B * seqLength);
    const attendAll = isQuery && s.attendToExpansionTokens;
    ids.forEach((t, b) => {
      const o = b * seqLength;
      for (let j = 0; j < t.length; j++) inputIds[o + j] = BigInt(t[j]);
      attentionMask.fill(1n, o, o + (attendAll ? seqLength : t.length));
    });
    return { inputIds, attentionMask, tokenTypeIds, batchSize: B, seqLength, ids };
  }
}
