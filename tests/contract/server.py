"""The API under contract test: a real uvicorn process with the product's kinds and a
worker, its waits capped at a second so long-polls and streams end quickly."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx

from tests.factories import PROJECT_ROOT, free_port, uvicorn_command, worker_env

# Long-polls (/wait, Prefer: wait) and event streams are bounded by the server's own
# caps, so every generated timeout ends within about a second.
BOUNDED_WAITS = {
    "OPSAPI_OPERATIONS__MAX_WAIT_SECONDS": "1",
    "OPSAPI_EVENTS__MAX_CONNECTION_SECONDS": "1",
    "OPSAPI_EVENTS__PING_SECONDS": "0.5",
}


@contextlib.contextmanager
def contract_server(database_url: str, storage: Path) -> Iterator[str]:
    """Serve the app on a free loopback port until the block ends; yields its URL.

    Its log goes to a file (not a pipe nobody reads while a synchronous test runs)
    and is shown when the server fails to start."""
    port = free_port()
    env = worker_env(database_url)
    env.update(
        {
            "OPSAPI_HANDLER_MODULES": "[]",
            "OPSAPI_RUN_WORKER": "true",
            "OPSAPI_LOG_LEVEL": "WARNING",
            "OPSAPI_DOCUMENTS__STORAGE_PATH": str(storage),
            **BOUNDED_WAITS,
        }
    )
    with tempfile.TemporaryFile(mode="w+") as log:
        process = subprocess.Popen(
            uvicorn_command(port),
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _until_healthy(process, url, log)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _until_healthy(process: subprocess.Popen[bytes], url: str, log: IO[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    log.seek(0)
    raise AssertionError(f"API server did not start:\n{log.read()}")


def environment_examples(default: int) -> int:
    """Examples per operation: ``OPSAPI_CONTRACT_EXAMPLES`` or ``default``."""
    return int(os.environ.get("OPSAPI_CONTRACT_EXAMPLES", default))
