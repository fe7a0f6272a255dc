from backend.errors import AppError, Conflict, NotFound


class TenantExists(Conflict):
    code = "TENANT_EXISTS"
    title = "Tenant already exists"


class TenantNotFound(NotFound):
    code = "TENANT_NOT_FOUND"
    title = "Tenant not found"


class KeyNotFound(NotFound):
    code = "API_KEY_NOT_FOUND"
    title = "API key not found"


class ReadOnlyCaller(AppError):
    status = 403
    code = "READ_ONLY_CALLER"
    title = "Read-only API key"


class TooManyAuthFailures(AppError):
    status = 429
    code = "TOO_MANY_AUTH_FAILURES"
    title = "Too many failed authentications"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            "Too many requests from this client (or with this credential) failed to "
            f"authenticate. Try again in {retry_after} seconds, with a valid credential.",
            headers={"Retry-After": str(retry_after)},
        )
