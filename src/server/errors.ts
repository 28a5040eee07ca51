import { TslateError } from "../util/errors.js";

/**
 * next-plaid-api's error codes (next-plaid-api/src/error.rs) with their HTTP statuses, plus
 * the few tslate adds (PAYLOAD_TOO_LARGE, UNAUTHORIZED, NOT_FOUND for unknown routes).
 */
export const API_ERROR_STATUS = {
  INDEX_NOT_FOUND: 404,
  INDEX_ALREADY_EXISTS: 409,
  INDEX_NOT_DECLARED: 404,
  BAD_REQUEST: 400,
  DIMENSION_MISMATCH: 400,
  METADATA_NOT_FOUND: 404,
  MODEL_NOT_LOADED: 400,
  MODEL_ERROR: 500,
  SERVICE_UNAVAILABLE: 503,
  RATE_LIMITED: 429,
  INTERNAL_ERROR: 500,
  PAYLOAD_TOO_LARGE: 413,
  UNAUTHORIZED: 401,
  NOT_FOUND: 404,
} as const;
export type ApiErrorCode = keyof typeof API_ERROR_STATUS;

/** The JSON body of every error answer: `{ code, message, details? }` (next-plaid's shape). */
export interface ErrorBody {
  code: ApiErrorCode;
  message: string;
  details?: unknown;
}

/** An error answered to the client with next-plaid's status and body. */
export class ApiError extends Error {
  readonly code: ApiErrorCode;
  readonly status: number;
  readonly details: unknown;
  constructor(code: ApiErrorCode, message: string, details?: unknown) {
    super(message);
    this.code = code;
    this.status = API_ERROR_STATUS[code];
    this.details = details;
    this.name = "ApiError";
  }
  body(): ErrorBody {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

export const badRequest = (message: string, details?: unknown) =>
  new ApiError("BAD_REQUEST", message, details);

export const indexNotFound = (name: string) =>
  new ApiError("INDEX_NOT_FOUND", `Index not found: ${name}`);

export const indexNotDeclared = (name: string) =>
  new ApiError(
    "INDEX_NOT_DECLARED",
    `Index '${name}' not declared. Call POST /indices first to declare the index.`,
  );

export const dimensionMismatch = (expected: number, actual: number) =>
  new ApiError("DIMENSION_MISMATCH", `Expected dimension ${expected}, got ${actual}`, {
    expected,
    actual,
  });

export const modelNotLoaded = () =>
  new ApiError(
    "MODEL_NOT_LOADED",
    "No model loaded. Start the server with --model <path> to enable encoding.",
  );

/**
 * Maps any thrown value to an ApiError: tslate's own errors by their stable code (bad input
 * -> 400, the rest -> 500), anything else -> INTERNAL_ERROR without leaking a stack.
 */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof TslateError) {
    switch (err.code) {
      case "INVALID_ARGUMENT":
      case "SHAPE":
      case "CONFIG":
      case "DATA":
      case "UNSUPPORTED":
        return badRequest(err.message);
      default:
        return new ApiError("INTERNAL_ERROR", `${err.code}: ${err.message}`);
    }
  }
  return new ApiError(
    "INTERNAL_ERROR",
    `Internal error: ${(err as Error)?.message ?? String(err)}`,
  );
}
