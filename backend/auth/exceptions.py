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
