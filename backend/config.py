"""Settings, read from the environment (prefix ``OPSAPI_``, nested with ``__``) and ``.env``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class DatabaseSettings(BaseModel):
    pool_size: int = Field(
        default=20,
        ge=1,
        description="Connections kept per process (opened as needed, then kept).",
    )
    max_overflow: int = Field(
        default=0,
        ge=0,
        description="Extra connections under load, closed as soon as they are returned: "
        "under sustained load each costs a new server process per checkout, so a larger "
        "pool_size serves better.",
    )
    pool_timeout: float = Field(
        default=10.0, gt=0, description="Seconds to wait for a free connection before failing."
    )
    connect_timeout: float = Field(
        default=5.0,
        gt=0,
        description="Seconds to open a connection before the database counts as unreachable.",
    )
    command_timeout: float = Field(
        default=30.0,
        gt=0,
        description="Seconds a statement may go unanswered before the database counts as "
        "unreachable (a server that stopped answering would otherwise hold the request).",
    )


class WorkerSettings(BaseModel):
    concurrency: int = Field(default=10, ge=1, description="Handlers run at once per worker.")
    poll_interval: float = Field(
        default=1.0, gt=0, description="Seconds between claim attempts when no NOTIFY arrives."
    )
    lease_seconds: float = Field(
        default=30.0, gt=0, description="How long a claim is valid without a heartbeat."
    )
    heartbeat_interval: float = Field(
        default=10.0, gt=0, description="Seconds between batched lease extensions."
    )
    maintenance_interval: float = Field(
        default=5.0, gt=0, description="Seconds between rescue/prune rounds of the leader."
    )
    shutdown_grace: float = Field(
        default=30.0, ge=0, description="Seconds running handlers may finish after SIGTERM."
    )
    queues: list[str] = Field(default=["default"], description="Queues this worker claims from.")


class LimitSettings(BaseModel):
    max_header_bytes: int = Field(
        default=32 * 1024,
        ge=1024,
        description="Largest total size of a request's headers (names and values); "
        "larger is refused with 431.",
    )
    max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1,
        description="Largest request body (JSON) any endpoint accepts; uploads have "
        "documents.max_upload_bytes instead.",
    )


class AuthSettings(BaseModel):
    max_failures: int = Field(
        default=10,
        ge=0,
        description="Failed authentications (wrong API key or reviewer token) allowed per "
        "client IP, and per presented key, within failure_window_seconds; then 429 (0: off).",
    )
    failure_window_seconds: float = Field(
        default=300.0, gt=0, description="The window failed authentications are counted in."
    )
    key_cache_seconds: float = Field(
        default=10.0,
        ge=0,
        description="How long an API process answers a key it authenticated from memory "
        "instead of the database (0: off). Revocations and blocks reach every process at "
        "once through PostgreSQL notifications; this bounds staleness if one is missed.",
    )


class OperationSettings(BaseModel):
    retention_seconds: float = Field(
        default=7 * 24 * 3600, gt=0, description="Finished operations are kept this long."
    )
    prune_batch_size: int = Field(default=1000, ge=1, description="Rows deleted per prune step.")
    max_wait_seconds: float = Field(
        default=60.0, gt=0, description="Upper bound of /wait?timeout and of Prefer: wait."
    )


class EventSettings(BaseModel):
    ping_seconds: float = Field(
        default=15.0, gt=0, description="Seconds between keep-alive comments on an event stream."
    )
    max_connection_seconds: float = Field(
        default=300.0,
        gt=0,
        description="An event stream is closed after this long; the client reconnects and "
        "resumes from its last event id.",
    )
    retry_ms: int = Field(
        default=1000, ge=0, description="Reconnection delay advised to clients (SSE retry:)."
    )


class IdempotencySettings(BaseModel):
    retention_seconds: float = Field(
        default=24 * 3600, gt=0, description="An Idempotency-Key and its answer are kept this long."
    )
    lock_seconds: float = Field(
        default=60.0,
        gt=0,
        description="A request still in flight after this long is taken to have died: its "
        "key may be used again.",
    )


class WebhookSettings(BaseModel):
    http_hosts: list[str] | None = Field(
        default=None,
        description="Hosts webhooks may be sent to over plain http. Unset: loopback names "
        "in development, none in production.",
    )
    allowed_networks: list[str] | None = Field(
        default=None,
        description="Private, loopback or link-local networks (CIDR) webhooks may target. "
        "Unset: loopback in development, none in production.",
    )
    timeout_seconds: float = Field(default=10.0, gt=0, description="Seconds per delivery attempt.")
    max_attempts: int = Field(default=8, ge=1, description="Attempts per message and endpoint.")
    backoff_base_seconds: float = Field(
        default=5.0, gt=0, description="First retry delay; doubled per attempt."
    )
    backoff_max_seconds: float = Field(default=3600.0, gt=0, description="Longest retry delay.")
    secret_overlap_seconds: float = Field(
        default=24 * 3600,
        ge=0,
        description="After a rotation the previous secret also signs deliveries this long.",
    )
    max_endpoints_per_tenant: int = Field(default=20, ge=1, description="Endpoints per tenant.")
    log_retention_seconds: float = Field(
        default=7 * 24 * 3600, gt=0, description="Delivery log entries are kept this long."
    )


class LlmSettings(BaseModel):
    provider: Literal["local", "openai"] | None = Field(
        default=None,
        description="local: offline extractive answers; openai: any OpenAI-compatible server. "
        "Unset: openai when api_key is set, else local.",
    )
    api_key: SecretStr | None = Field(default=None, description="The provider's API key.")
    base_url: str | None = Field(
        default=None,
        description="Base URL of an OpenAI-compatible API (Azure OpenAI, Ollama, vLLM, LM "
        "Studio). Unset: OpenAI's.",
    )
    model: str = Field(default="gpt-4o-mini", description="Model used by every task by default.")
    models: dict[str, str] = Field(
        default={}, description='Per-task models, e.g. {"review_summary": "gpt-4o"}.'
    )
    timeout: float = Field(default=60.0, gt=0, description="Seconds one model request may take.")
    max_concurrency: int = Field(
        default=8, ge=1, description="Model requests one process makes at once."
    )
    tokens_per_minute: int = Field(
        default=0,
        ge=0,
        description="Token budget per model and minute shared by all processes (0: off).",
    )
    structured_output: Literal["json_schema", "json_object"] = Field(
        default="json_schema",
        description="json_schema: the server enforces the answer's schema; json_object: JSON "
        "mode, the schema is given in the prompt and the answer validated.",
    )
    max_output_tokens: int | None = Field(
        default=None, ge=1, description="Upper bound of tokens per answer (unset: the model's)."
    )

    def resolved_provider(self) -> Literal["local", "openai"]:
        """The configured provider, or openai when a key is set and local otherwise."""
        if self.provider is not None:
            return self.provider
        return "openai" if self.api_key is not None else "local"


class FeedbackSettings(BaseModel):
    summary_debounce_seconds: float = Field(
        default=2.0,
        ge=0,
        description="A review cycle's summary starts this long after the latest review that "
        "asked for it (0: at once), at most ten times as long after the first.",
    )
    cycle_days: int = Field(
        default=30, ge=1, le=366, description="How long a cycle without closes_at stays open."
    )
    invitation_url: str | None = Field(
        default=None,
        description="Template of the link a reviewer is sent, with {token}, e.g. "
        "https://reviews.example.com/r/{token}. Unset: the API's own GET /reviews/{token}.",
    )

    @field_validator("invitation_url")
    @classmethod
    def _names_the_token(cls, value: str | None) -> str | None:
        if value is not None and "{token}" not in value:
            raise ValueError("invitation_url must contain {token}.")
        return value


class DocumentSettings(BaseModel):
    storage_path: Path | None = Field(
        default=None,
        description="Folder where uploaded files are stored. Unset: documents/ under data_dir.",
    )
    max_upload_bytes: int = Field(
        default=25 * 1024 * 1024, ge=1, description="Largest file one upload may carry."
    )
    monthly_upload_quota: int = Field(
        default=1000,
        ge=0,
        description="Uploads per tenant and calendar month (UTC); 0: no limit.",
    )
    tesseract_cmd: str = Field(
        default="tesseract",
        description="The Tesseract OCR program (a name on PATH or a path) workers run.",
    )
    ocr_languages: str = Field(
        default="eng",
        description="Tesseract language packs used for OCR, joined by + (e.g. eng+deu).",
    )
    fsync: bool = Field(
        default=True,
        description="Flush each stored file to disk before the upload is answered.",
    )


class ReportSettings(BaseModel):
    ttl_seconds: float = Field(
        default=24 * 3600,
        gt=0,
        description="A person's report younger than this is served as it is; an older one is "
        "served with a refresh running behind it.",
    )
    refresh_retry_seconds: float = Field(
        default=300.0,
        ge=0,
        description="After a refresh failed, a stale report is served without starting "
        "another for this long (?refresh=true starts one at once).",
    )
    max_custom_days: int = Field(
        default=366, ge=1, description="Longest period a custom report may cover, in days."
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="OPSAPI_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    environment: Literal["development", "production"] = Field(
        default="development",
        description="development prints a key for a development tenant on first start.",
    )
    data_dir: Path = Field(
        default=Path(".opsapi"),
        description="Where the embedded PostgreSQL keeps its data, and uploaded documents.",
    )
    log_level: str = Field(default="INFO", description="Root log level.")
    log_format: Literal["json", "console"] = Field(
        default="json", description="json: one JSON object per line; console: human-readable."
    )
    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL (postgresql:// or postgresql+asyncpg://). "
        "Unset: an embedded PostgreSQL under data_dir is started (or joined).",
    )
    handler_modules: list[str] = Field(
        default=[],
        description="Extra modules, each defining register(registry), adding operation kinds.",
    )
    run_worker: bool = Field(
        default=False,
        description="Run a worker inside each API process (opsapi serve sets it unless "
        "--no-worker).",
    )
    forwarded_allow_ips: str | None = Field(
        default=None,
        description="Proxies (comma-separated IPs or CIDRs, or *) whose X-Forwarded-For "
        "gives the client's IP. Unset: uvicorn's default (FORWARDED_ALLOW_IPS, else "
        "127.0.0.1); any other peer is the client itself.",
    )
    database: DatabaseSettings = DatabaseSettings()
    limits: LimitSettings = LimitSettings()
    auth: AuthSettings = AuthSettings()
    worker: WorkerSettings = WorkerSettings()
    operations: OperationSettings = OperationSettings()
    events: EventSettings = EventSettings()
    idempotency: IdempotencySettings = IdempotencySettings()
    webhooks: WebhookSettings = WebhookSettings()
    llm: LlmSettings = LlmSettings()
    feedback: FeedbackSettings = FeedbackSettings()
    documents: DocumentSettings = DocumentSettings()
    reports: ReportSettings = ReportSettings()

    @property
    def document_storage_path(self) -> Path:
        """Where uploaded files are stored: the configured folder, or under data_dir."""
        return self.documents.storage_path or self.data_dir / "documents"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
