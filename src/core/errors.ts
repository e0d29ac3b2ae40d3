// One error type for the whole agent. Every failure that can reach a user carries a code; one table
// per edge maps codes to what that edge speaks (HTTP status here, RPC frames in rpc/codec.ts, CLI
// exit codes in cli/main.ts), so a new code is added in one place and handled everywhere.

export const ErrorCode = {
  BadRequest: 'BadRequest',
  NotFound: 'NotFound',
  MethodNotAllowed: 'MethodNotAllowed',
  TooLarge: 'TooLarge',
  PermissionDenied: 'PermissionDenied',
  /** Consul's ErrDisabled: an ACL endpoint asked of an agent with ACLs off. */
  ACLDisabled: 'ACLDisabled',
  Conflict: 'Conflict',
  NoLeader: 'NoLeader',
  NotLeader: 'NotLeader',
  NoDCPath: 'NoDCPath',
  DCUnavailable: 'DCUnavailable',
  Timeout: 'Timeout',
  Unavailable: 'Unavailable',
  Internal: 'Internal',
  Config: 'Config',
  Corrupt: 'Corrupt',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class ConsulError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'ConsulError';
  }
}

export const httpStatusOf: Record<ErrorCode, number> = {
  BadRequest: 400,
  NotFound: 404,
  MethodNotAllowed: 405,
  TooLarge: 413,
  PermissionDenied: 403,
  ACLDisabled: 401,
  Conflict: 409,
  // Consul answers every RPC-level failure (no leader, no path to DC, ...) with a 500.
  NoLeader: 500,
  NotLeader: 500,
  NoDCPath: 500,
  DCUnavailable: 500,
  Timeout: 500,
  Unavailable: 500,
  Internal: 500,
  Config: 500,
  Corrupt: 500,
};

/** Consul's own wording for the errors users grep for. */
export const messages = {
  noLeader: 'No cluster leader',
  noDCPath: 'No path to datacenter',
} as const;

export const badRequest = (msg: string): ConsulError => new ConsulError(ErrorCode.BadRequest, msg);
export const notFound = (msg: string): ConsulError => new ConsulError(ErrorCode.NotFound, msg);

export function isConsulError(err: unknown): err is ConsulError {
  return err instanceof ConsulError;
}

/** Any thrown value as a ConsulError; unknown errors become Internal with their message kept. */
export function toConsulError(err: unknown): ConsulError {
  if (err instanceof ConsulError) return err;
  if (err instanceof Error) return new ConsulError(ErrorCode.Internal, err.message, { cause: err });
  return new ConsulError(ErrorCode.Internal, String(err));
}
