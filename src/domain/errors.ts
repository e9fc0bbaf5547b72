/**
 * Domain errors carry a stable snake_case `code`; src/http maps each code to a status in
 * one table. The message is for logs and `detail`, never a secret.
 */
export type DomainErrorCode =
  | 'validation_failed'
  | 'weak_password'
  | 'identifier_taken'
  | 'invalid_credentials'
  | 'account_disabled'
  | 'invalid_token'
  | 'token_reused'
  | 'forbidden'
  | 'not_found'
  | 'rate_limited'
  | 'conflict'
  | 'invalid_code'
  | 'identifier_unverified';

export class DomainError extends Error {
  readonly code: DomainErrorCode;
  constructor(code: DomainErrorCode, message: string) {
    super(message);
    this.name = 'DomainError';
    this.code = code;
  }
}

export class ValidationError extends DomainError {
  readonly path: string;
  constructor(path: string, message: string) {
    super('validation_failed', message);
    this.name = 'ValidationError';
    this.path = path;
  }
}

export class WeakPasswordError extends DomainError {
  constructor(message: string) {
    super('weak_password', message);
    this.name = 'WeakPasswordError';
  }
}

export class IdentifierTakenError extends DomainError {
  readonly kind: 'email' | 'phone';
  constructor(kind: 'email' | 'phone') {
    super('identifier_taken', `this ${kind} is already registered`);
    this.name = 'IdentifierTakenError';
    this.kind = kind;
  }
}

export class InvalidCredentialsError extends DomainError {
  constructor() {
    super('invalid_credentials', 'invalid identifier or password');
    this.name = 'InvalidCredentialsError';
  }
}

export class AccountDisabledError extends DomainError {
  constructor() {
    super('account_disabled', 'this account is disabled');
    this.name = 'AccountDisabledError';
  }
}

export class InvalidTokenError extends DomainError {
  constructor(message = 'the token is invalid, expired or revoked') {
    super('invalid_token', message);
    this.name = 'InvalidTokenError';
  }
}

export class TokenReusedError extends DomainError {
  constructor() {
    super('token_reused', 'this refresh token was already used; the session has been revoked');
    this.name = 'TokenReusedError';
  }
}

export class NotFoundError extends DomainError {
  constructor(what: string) {
    super('not_found', `${what} not found`);
    this.name = 'NotFoundError';
  }
}

export class ForbiddenError extends DomainError {
  constructor(message = 'you are not allowed to do this') {
    super('forbidden', message);
    this.name = 'ForbiddenError';
  }
}

export class RateLimitedError extends DomainError {
  readonly retryAfterSeconds: number;
  constructor(retryAfterSeconds: number, message = 'too many failed logins for this identifier; try again later') {
    super('rate_limited', message);
    this.name = 'RateLimitedError';
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export class ConflictError extends DomainError {
  constructor(message: string) {
    super('conflict', message);
    this.name = 'ConflictError';
  }
}

/** A reset or verification token or code that is unknown, expired, used, superseded or out of attempts. */
export class InvalidCodeError extends DomainError {
  constructor(message = 'the code or link is invalid, expired or already used; ask for a new one') {
    super('invalid_code', message);
    this.name = 'InvalidCodeError';
  }
}

export class IdentifierUnverifiedError extends DomainError {
  readonly kind: 'email' | 'phone';
  constructor(kind: 'email' | 'phone') {
    super('identifier_unverified', `verify this ${kind} before signing in with it`);
    this.name = 'IdentifierUnverifiedError';
    this.kind = kind;
  }
}

export const isDomainError = (e: unknown): e is DomainError => e instanceof DomainError;
