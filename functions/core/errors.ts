// Named domain errors. Handlers map them to HTTP statuses; the state machine matches on `name`.

export interface FieldError {
  field: string;
  rule: string;
  message: string;
}

export class ValidationError extends Error {
  override readonly name = 'ValidationError';
  constructor(readonly errors: FieldError[]) {
    super(errors.map((e) => `${e.field}: ${e.message}`).join('; '));
  }
}

export class NotFoundError extends Error {
  override readonly name = 'NotFoundError';
}

/** The request conflicts with the current state (a finished approval, a reused order_id). */
export class ConflictError extends Error {
  override readonly name = 'ConflictError';
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

export class ForbiddenError extends Error {
  // Widened so a refinement (AccessDenied) keeps its own name for the state machine's Catch.
  override readonly name: string = 'ForbiddenError';
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

export class UnauthenticatedError extends Error {
  override readonly name: string = 'UnauthenticatedError';
}

/** The checker rejected the order (or the approval could not be confirmed): ends the order REJECTED. */
export class ApprovalRejected extends Error {
  override readonly name = 'ApprovalRejected';
}

/** The approval window closed: ends the order EXPIRED. */
export class ApprovalExpired extends Error {
  override readonly name = 'ApprovalExpired';
}

/** A dependency failed in a way worth retrying; the state machine retries on this name. */
export class TransientError extends Error {
  override readonly name = 'TransientError';
}

/** An invariant the platform relies on does not hold: fail the order, loudly. */
export class IntegrityError extends Error {
  override readonly name = 'IntegrityError';
}

/**
 * A fill executed before the exactly-once horizon: its id may already have been forgotten by the
 * position's ledger, so applying it could count it twice. Not retryable (a retry only gets older);
 * the fill needs manual reconciliation.
 */
export class FillTooOldError extends Error {
  override readonly name = 'FillTooOldError';
}
