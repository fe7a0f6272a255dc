"""The ``opsapi`` command: serve, worker, migrate, admin."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from sqlalchemy import select

from backend.auth import service as auth
from backend.auth.models import Role, Tenant
from backend.config import Settings, get_settings
from backend.db import create_engine, create_sessionmaker, resolve_database_url
from backend.errors import AppError
from backend.logs import configure_logging

app = typer.Typer(
    help="opsapi: long-running AI work as durable operations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
admin = typer.Typer(help="Tenants and API keys.", no_args_is_help=True)
app.add_typer(admin, name="admin")

DEV_TENANT = "development"
T = TypeVar("T")


def _database_url(settings: Settings) -> str:
    """The configured URL, or the embedded server's (started or joined)."""
    url = resolve_database_url(settings)
    # Child processes (uvicorn workers) and Alembic join the same server.
    os.environ["OPSAPI_DATABASE_URL"] = url
    return url


def _run_with_session(url: str, settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    async def main() -> T:
        engine = create_engine(url, settings)
        try:
            async with create_sessionmaker(engine)() as session:
                result = await work(session)
                await session.commit()
                return result
        finally:
            await engine.dispose()

    return asyncio.run(main())


def _fail(message: str) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code=1)


@app.command()
def migrate() -> None:
    """Apply database migrations up to the latest revision."""
    from backend.migrate import upgrade

    settings = get_settings()
    configure_logging(settings)
    upgrade(_database_url(settings))
    typer.echo("database is at the latest revision")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="API processes.")] = 1,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Do not run a worker inside the API processes.")
    ] = False,
) -> None:
    """Migrate, then serve the API (with an in-process worker unless --no-worker)."""
    import uvicorn

    from backend.migrate import upgrade

    settings = get_settings()
    configure_logging(settings)
    url = _database_url(settings)
    upgrade(url)
    if settings.environment == "development":
        _print_development_key(url, settings, f"http://{host}:{port}")
    os.environ["OPSAPI_RUN_WORKER"] = "false" if no_worker else "true"
    get_settings.cache_clear()
    uvicorn.run(
        "backend.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        # X-Forwarded-For names the client (whose failed authentications are counted)
        # only when the peer is one of these proxies.
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )


def _print_development_key(url: str, settings: Settings, base_url: str) -> None:
    async def ensure(session: Any) -> auth.IssuedKey | None:
        if await session.scalar(select(Tenant).where(Tenant.name == DEV_TENANT)) is not None:
            return None
        tenant = await auth.create_tenant(session, DEV_TENANT)
        return await auth.create_key(session, tenant, role=Role.admin, principal_name="developer")

    issued = _run_with_session(url, settings, ensure)
    if issued is not None:
        typer.echo(
            "\nDevelopment API key (shown once; tenant 'development', role admin):\n\n"
            f"    {issued.key}\n\n"
            f"Try: curl -H 'Authorization: Bearer {issued.key}' "
            f"{base_url}/api/v1/operations\n"
        )


@app.command()
def worker(
    concurrency: Annotated[int | None, typer.Option(min=1, help="Handlers at once.")] = None,
    kinds: Annotated[
        list[str] | None, typer.Option("--kinds", help="Only these kinds (repeatable).")
    ] = None,
    queues: Annotated[
        list[str] | None, typer.Option("--queues", help="Only these queues (repeatable).")
    ] = None,
) -> None:
    """Run a worker until SIGTERM or SIGINT, then shut down gracefully."""
    from backend.features import build_registry
    from backend.operations.worker import Worker

    settings = get_settings()
    configure_logging(settings)
    url = _database_url(settings)
    registry = build_registry(settings)
    if not registry.names():
        _fail("No operation kinds are registered: nothing to work on.")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        engine = create_engine(
            url, settings, extra_connections=concurrency or settings.worker.concurrency
        )
        try:
            await Worker(
                engine=engine,
                database_url=url,
                registry=registry,
                settings=settings,
                concurrency=concurrency,
                kinds=_split(kinds),
                queues=_split(queues),
            ).run(stop)
        finally:
            await engine.dispose()

    _run_event_loop(main())


def _run_event_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run the worker on uvloop where it is installed (not on Windows): its event
    loop costs the worker's claim/run/complete cycle less than asyncio's own."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    uvloop.run(main)


def _split(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def _admin(work: Callable[[Any], Awaitable[T]]) -> T:
    settings = get_settings()
    try:
        return _run_with_session(_database_url(settings), settings, work)
    except AppError as exc:
        _fail(exc.detail)


@admin.command("create-tenant")
def create_tenant(
    name: Annotated[str, typer.Argument(help="Unique tenant name.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create a tenant."""

    async def work(session: Any) -> Tenant:
        return await auth.create_tenant(session, name)

    tenant = _admin(work)
    if as_json:
        typer.echo(json.dumps({"tenant_id": str(tenant.id), "name": tenant.name}))
    else:
        typer.echo(f"tenant {tenant.name} created: {tenant.id}")


@admin.command("create-key")
def create_key(
    tenant: Annotated[str, typer.Option(help="Tenant name.")],
    role: Annotated[Role, typer.Option(help="What the key may do.")] = Role.member,
    name: Annotated[str | None, typer.Option(help="Who or what uses the key.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create a principal with an API key in a tenant; the key is printed once."""

    async def work(session: Any) -> auth.IssuedKey:
        found = await auth.get_tenant_by_name(session, tenant)
        return await auth.create_key(session, found, role=role, principal_name=name)

    issued = _admin(work)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "key": issued.key,
                    "key_id": str(issued.key_id),
                    "tenant_id": str(issued.tenant_id),
                    "principal_id": str(issued.principal_id),
                    "role": issued.role.value,
                }
            )
        )
    else:
        typer.echo(f"{issued.key}\n(role {issued.role.value}; store it now, it is not shown again)")


@admin.command("list-keys")
def list_keys(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's keys.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List API keys (never the keys themselves: their prefixes)."""

    async def work(session: Any) -> list[auth.KeyListing]:
        return await auth.list_keys(session, tenant)

    keys = _admin(work)
    rows = [
        {
            "key_id": str(k.key_id),
            "prefix": k.prefix,
            "tenant": k.tenant,
            "principal_id": str(k.principal_id),
            "principal": k.principal_name,
            "role": k.role.value,
            "created_at": k.created_at.isoformat(),
            "last_used_at": k.last_used_at.isoformat() if k.last_used_at else None,
            "revoked": k.revoked_at is not None,
        }
        for k in keys
    ]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    for r in rows:
        state = "revoked" if r["revoked"] else "active"
        typer.echo(f"{r['key_id']}  {r['prefix']}…  {r['tenant']}  {r['role']}  {state}")


@admin.command("revoke-key")
def revoke_key(
    key: Annotated[str, typer.Argument(help="Key id or listed prefix.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Revoke an API key at once."""

    async def work(session: Any) -> Any:
        return await auth.revoke_key(session, key)

    key_id = _admin(work)
    if as_json:
        typer.echo(json.dumps({"key_id": str(key_id), "revoked": True}))
    else:
        typer.echo(f"revoked {key_id}")


@admin.command("submit")
def submit(
    tenant: Annotated[str, typer.Option(help="Tenant name.")],
    kind: Annotated[str, typer.Option(help="A registered operation kind.")],
    params: Annotated[str, typer.Option(help="Parameters as a JSON object.")] = "{}",
    target: Annotated[str | None, typer.Option(help="URL the work is about.")] = None,
    base_url: Annotated[
        str, typer.Option(help="Base URL of the API, for the printed link.")
    ] = "http://127.0.0.1:8000",
) -> None:
    """Create an operation for a tenant (backfills, re-runs, trying a handler out).

    Prints the operation's id, status and URL as JSON. The kind must be registered in
    this process too (OPSAPI_HANDLER_MODULES), so parameters are validated here.
    """
    from pydantic import ValidationError

    from backend.features import build_registry
    from backend.operations import service

    settings = get_settings()
    registry = build_registry(settings)
    if kind not in registry:
        known = ", ".join(registry.names()) or "none"
        _fail(f"No operation kind {kind!r} is registered here (registered: {known}).")
    try:
        values = json.loads(params)
        validated = service.validate_params(registry, kind, values)
    except json.JSONDecodeError as exc:
        _fail(f"--params is not valid JSON: {exc}.")
    except ValidationError as exc:
        _fail(f"--params does not fit kind {kind!r}:\n{exc}")

    async def work(session: Any) -> Any:
        found = await auth.get_tenant_by_name(session, tenant)
        return await service.create_operation(
            session,
            registry,
            tenant_id=found.id,
            principal_id=None,
            kind=kind,
            params=validated,
            target=target,
        )

    op = _admin(work)
    url = f"{base_url.rstrip('/')}/api/v1/operations/{op.id}"
    typer.echo(json.dumps({"id": str(op.id), "kind": op.kind, "status": op.status, "url": url}))


@app.command()
def openapi(
    output: Annotated[
        Path | None, typer.Option(help="Write to this file instead of standard output.")
    ] = None,
) -> None:
    """Print the OpenAPI document as JSON; needs no database."""
    from backend.main import documented_app
    from backend.openapi import document_text

    # The product's kinds type the operations' results; the handler modules configured
    # here do not change the document.
    document = document_text(documented_app())
    if output is None:
        typer.echo(document, nl=False)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(document, encoding="utf-8")
    typer.echo(f"wrote {output}", err=True)


if __name__ == "__main__":
    app()
