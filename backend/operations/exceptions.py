"""Errors of the operations package: what the API answers and what handlers raise."""

from __future__ import annotations

from backend.errors import AppError, Conflict, NotFound


class OperationNotFound(NotFound):
    code = "OPERATION_NOT_FOUND"
    title = "Operation not found"

    def __init__(self) -> None:
        super().__init__(
            "No operation with this id exists for your tenant. It may have been deleted."
        )


class OperationStillActive(Conflict):
    code = "OPERATION_ACTIVE"
    title = "Operation is still active"

    def __init__(self) -> None:
        super().__init__(
            "Only a finished operation can be deleted. Cancel it first, or wait until it is done."
        )


class OperationExpired(NotFound):
    code = "OPERATION_EXPIRED"
    title = "Operation expired"

    def __init__(self) -> None:
        super().__init__(
            "This operation finished longer ago than it is kept for, and is being removed. "
            "Create a new one if you need the work again."
        )


class BatchNotFound(NotFound):
    code = "BATCH_NOT_FOUND"
    title = "Batch not found"

    def __init__(self) -> None:
        super().__init__("No batch with this id exists for your tenant.")


class BatchExpired(NotFound):
    code = "BATCH_EXPIRED"
    title = "Batch expired"

    def __init__(self) -> None:
        super().__init__(
            "Every operation of this batch has expired or was deleted; the batch is being removed."
        )


class InvalidPageToken(AppError):
    status = 422
    code = "INVALID_PAGE_TOKEN"
    title = "Invalid page token"

    def __init__(self) -> None:
        super().__init__(
            "page_token is not one this API issued. Start again without it, then pass the "
            "next_page_token of each answer."
        )


class UnknownOperationKind(LookupError):
    """A feature asked for a kind no handler is registered for: a programming error."""


class OperationFailure(Exception):
    """Raised by a handler to fail its attempt with a code and a message safe to show.

    ``retryable`` failures go back to pending with exponential backoff until the
    attempts are spent; ``retry_after`` (seconds) overrides the backoff and does not
    spend an attempt, for "come back later" answers such as a provider's 429.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after


class RetryableFailure(OperationFailure):
    def __init__(self, code: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(code, message, retryable=True, retry_after=retry_after)


class PermanentFailure(OperationFailure):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message, retryable=False)
