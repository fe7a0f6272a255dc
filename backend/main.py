"""The application factory and its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator

from fastapi import FastAPI

from backend import __version__
from backend.auth.cache import KeyCache
from backend.auth.failures import CHANNEL_AUTH_BLOCKED
from backend.auth.service import CHANNEL_KEY_REVOKED
from backend.config import Settings, get_settings
from backend.db import (
    create_engine,
    create_read_sessionmaker,
    create_sessionmaker,
    libpq_dsn,
    resolve_database_url,
)
from backend.errors import install_error_handlers
from backend.features import build_registry
from backend.features.documents.router import router as documents_router
from backend.features.documents.upload import upload_limit
from backend.features.evaluations.router import router as evaluations_router
from backend.features.interviews.router import router as interviews_router
from backend.features.people.router import router as people_router
from backend.features.reports.router import router as reports_router
from backend.features.reviews.invitation_router import router as invitations_router
from backend.features.reviews.router import router as cycles_router
from backend.health import router as health_router
from backend.logs import configure_logging
from backend.middleware import RequestContext
from backend.migrate import head_revision
from backend.openapi import endpoints_by_name, install_openapi, operation_id
from backend.operations import batch_router, repository
from backend.operations.events import SharedReads
from backend.operations.events import router as events_router
from backend.operations.idempotency import install_idempotency
from backend.operations.listener import ChangeWaiters, Listener
from backend.operations.registry import Registry
from backend.operations.router import router as operations_router
from backend.operations.webhook_router import router as webhooks_router
from backend.operations.worker import Worker
from backend.request_limits import RequestLimits
from backend.usage.router import router as usage_router

API_PREFIX = "/api/v1"

DESCRIPTION = """\
Long-running AI work as durable **operations**. A create endpoint answers
`202 Accepted` with an Operation at once; follow it by polling (with `ETag`),
waiting (`Prefer: wait=N` or `/wait`), server-sent events (`/events`), or webhooks.
Send an `Idempotency-Key` with a create request to retry it safely.

Authenticate with `Authorization: Bearer <API key>`. Every error is
`application/problem+json` with a stable `code`.
"""


def settle_heap() -> None:
    """Move what start-up built (modules, the app, routes, models, pools: alive as long
    as the process) out of the collector's sight. Full collections then walk only the
    objects of requests, instead of pausing the event loop for 100-250 ms each
    (docs/benchmarks.md, Reports)."""
    gc.collect()
    gc.freeze()


def create_app(
    settings: Settings | None = None,
    *,
    registry: Registry | None = None,
    database_url: str | None = None,
    configure_logs: bool = True,
) -> FastAPI:
    """Build the app; the engine, listener and optional worker start in its lifespan."""
    # A new name bound once: the lifespan closure does not see a reassigned one narrowed.
    config = settings or get_settings()
    registry = registry if registry is not None else build_registry(config)
    if configure_logs:
        configure_logging(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url: str = (
            database_url if database_url else await asyncio.to_thread(resolve_database_url, config)
        )
        engine = create_engine(
            url, config, extra_connections=config.worker.concurrency if config.run_worker else 0
        )
        waiters = ChangeWaiters()
        key_cache = KeyCache(
            config.auth.key_cache_seconds,
            window_seconds=config.auth.failure_window_seconds,
            listening=lambda: listener.connection is not None,
        )
        listener = Listener(
            libpq_dsn(url),
            {
                repository.CHANNEL_CHANGED: waiters.on_changed,
                CHANNEL_KEY_REVOKED: key_cache.on_key_revoked,
                CHANNEL_AUTH_BLOCKED: key_cache.on_blocked,
            },
            connect_timeout=config.database.connect_timeout,
        )
        listener.on_reconnect.extend([waiters.wake_all, key_cache.clear])
        app.state.settings = config
        app.state.registry = registry
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        app.state.read_sessionmaker = create_read_sessionmaker(engine)
        app.state.event_reads = SharedReads(app.state.sessionmaker)
        app.state.waiters = waiters
        app.state.key_cache = key_cache
        app.state.migration_head = head_revision()
        await listener.start()
        stop = asyncio.Event()
        worker_task: asyncio.Task[None] | None = None
        if config.run_worker and len(registry.names()) > 0:
            worker = Worker(engine=engine, database_url=url, registry=registry, settings=config)
            worker_task = asyncio.create_task(worker.run(stop), name="opsapi-worker")
        settle_heap()
        try:
            yield
        finally:
            stop.set()
            if worker_task is not None:
                await worker_task
            await listener.stop()
            await engine.dispose()

    app = FastAPI(
        title="opsapi",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
    )
    routers = [
        operations_router,
        batch_router.router,
        events_router,
        webhooks_router,
        usage_router,
        interviews_router,
        people_router,
        reports_router,
        cycles_router,
        invitations_router,
        evaluations_router,
        documents_router,
    ]
    install_openapi(app, registry, endpoints_by_name([*routers, health_router]))
    install_error_handlers(app)
    install_idempotency(app)
    app.add_middleware(
        RequestLimits,
        max_header_bytes=config.limits.max_header_bytes,
        default_bytes=config.limits.max_body_bytes,
        routes={"upload_document": upload_limit(config.documents.max_upload_bytes)},
    )
    # Added last, so outermost: every answer (a 413 included) carries X-Request-ID.
    app.add_middleware(RequestContext)
    # Each router straight into the app: a request is matched through one level of
    # included routers, not two.
    for router in routers:
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(health_router)
    return app


def documented_app() -> FastAPI:
    """The app as ``docs/openapi.json`` describes it: the product's operation kinds
    (which type each kind's result), none of a deployment's handler modules."""
    settings = get_settings().model_copy(update={"handler_modules": []})
    return create_app(settings, registry=build_registry(settings), configure_logs=False)
