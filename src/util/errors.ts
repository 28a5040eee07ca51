/**
 * Every error tslate throws on purpose is a TslateError with a stable `code`, a message that
 * names the value that was wrong, what was allowed and how to fix it. Callers (CLI, server)
 * switch on `code`, never on message text.
 */
export type ErrorCode =
  | "CONFIG"
  | "FILE_NOT_FOUND"
  | "FILE_CORRUPT"
  | "SHAPE"
  | "INVALID_ARGUMENT"
  | "UNSUPPORTED"
  | "HUB"
  | "INDEX"
  | "DATA"
  | "TRAINING"
  | "RUNTIME";

export class TslateError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A configuration value is missing, of the wrong type or out of range. */
export class ConfigError extends TslateError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("CONFIG", message, options);
  }
}

/** A file is missing, truncated or does not parse; the message names the file. */
export class FileFormatError extends TslateError {
  readonly path: string;
  constructor(path: string, message: string, options?: { cause?: unknown; missing?: boolean }) {
    super(options?.missing ? "FILE_NOT_FOUND" : "FILE_CORRUPT", `${path}: ${message}`, options);
    this.path = path;
  }
}

/** Tensor or matrix dimensions do not agree. */
export class ShapeError extends TslateError {
  constructor(message: string) {
    super("SHAPE", message);
  }
}

/** A function argument is invalid (empty list, NaN, wrong type, ...). */
export class InvalidArgumentError extends TslateError {
  constructor(message: string) {
    super("INVALID_ARGUMENT", message);
  }
}

/** The input asks for something tslate does not implement (unknown architecture, dtype...). */
export class UnsupportedError extends TslateError {
  constructor(message: string) {
    super("UNSUPPORTED", message);
  }
}

/** Downloading from the Hugging Face hub (or a mirror) failed. */
export class HubError extends TslateError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("HUB", message, options);
  }
}

/** An index cannot be opened, written or searched. */
export class IndexError extends TslateError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("INDEX", message, options);
  }
}

/** A dataset file (JSONL, TSV, parquet) has a malformed record. */
export class DataError extends TslateError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("DATA", message, options);
  }
}

/** Training cannot go on (NaN loss, bad batch, incompatible checkpoint). */
export class TrainingError extends TslateError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("TRAINING", message, options);
  }
}
