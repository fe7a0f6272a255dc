"""A PostgreSQL server of one test's own, which the test may stop and start again.

The shared test server is never stopped: a test about a database outage runs its
processes against a private cluster in a temporary folder, on a free loopback port.
The programs come from the PostgreSQL installed on the machine (``pg_config
--bindir``, or ``/usr/lib/postgresql/<version>/bin``), else from the ``pgserver``
package, which carries its own. PostgreSQL refuses to run as root, so under root
(CI containers) the cluster belongs to the ``postgres`` system user.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Literal

import psutil  # type: ignore[import-untyped]

from tests.factories import free_port

StopMode = Literal["smart", "fast", "immediate"]


def postgres_bin_dir() -> Path:
    """The folder holding ``initdb`` and ``pg_ctl``: the installed PostgreSQL's first."""
    candidates: list[Path] = []
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        found = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=True, timeout=10
        )
        candidates.append(Path(found.stdout.strip()))
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates.extend(versions)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    from pgserver._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _cluster_owner() -> pwd.struct_passwd | None:
    """The system user that runs the cluster: None for the current one, ``postgres``
    (or pgserver's own user) when running as root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        from pgserver.utils import ensure_user_exists

        owner: pwd.struct_passwd | None = ensure_user_exists("pgserver")
        return owner


class PrivateCluster:
    """initdb, start, stop and start again: one PostgreSQL server on ``port``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.log_file = root / "server.log"
        self.port = free_port()
        self.bin_dir = postgres_bin_dir()
        self._owner = _cluster_owner()

    @property
    def url(self) -> str:
        """The URL of its ``postgres`` database, as the postgres superuser (trust auth)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, program: str, *args: str, timeout: float = 60) -> None:
        owner = self._owner
        done = subprocess.run(
            [str(self.bin_dir / program), *args],
            cwd=self.root,
            user=owner.pw_uid if owner else None,
            group=owner.pw_gid if owner else None,
            env={**os.environ, "LC_ALL": "C"},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            server_log = self.log_file.read_text() if self.log_file.exists() else ""
            raise RuntimeError(
                f"{program} {' '.join(args)} failed ({done.returncode}):\n"
                f"{done.stdout}\n{done.stderr}\n{server_log}"
            )

    def init(self) -> None:
        if self._owner is not None:
            os.chown(self.root, self._owner.pw_uid, self._owner.pw_gid)
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "-N"
        )

    def start(self) -> None:
        # fsync off: a stop of any mode ends the server, never the machine, so nothing
        # written is lost; the tests need the speed, not the durability against power loss.
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=off -c max_connections=200"
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log_file), "-w", "-t", "60",
            "-o", options, "start",
        )  # fmt: skip

    def stop(self, mode: StopMode = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-w", "-t", "60", "-m", mode, "stop")

    def _processes(self) -> list[psutil.Process]:
        postmaster = psutil.Process(int((self.data / "postmaster.pid").read_text().split()[0]))
        return [postmaster, *postmaster.children(recursive=True)]

    def freeze(self) -> None:
        """Stop every server process (SIGSTOP): connections stay open and connects are
        taken by the kernel, but nothing answers, as with a hung host or a partition."""
        for process in self._processes():
            process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        for process in self._processes():
            process.send_signal(signal.SIGCONT)

    def stop_if_running(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError, psutil.Error):
                self.thaw()
            with contextlib.suppress(RuntimeError):
                self.stop("immediate")


@contextlib.asynccontextmanager
async def private_cluster() -> AsyncIterator[PrivateCluster]:
    """A started private cluster, stopped and deleted when the block ends."""
    root = Path(tempfile.mkdtemp(prefix="opsapi-pg-"))
    cluster = PrivateCluster(root)
    try:
        await asyncio.to_thread(cluster.init)
        await asyncio.to_thread(cluster.start)
        yield cluster
    finally:
        await asyncio.to_thread(cluster.stop_if_running)
        shutil.rmtree(root, ignore_errors=True)
