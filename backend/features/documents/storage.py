"""Where uploaded files live: a small interface, and a local folder behind it.

An upload is written to a staging file first (``stage``), then published under its key
in one atomic step (``publish``): a reader never sees half a file, and a failed upload
leaves nothing under a key. An object store fits the same interface (stage locally,
publish with one PUT).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")


class StagedFile:
    """A file being received: written chunk by chunk on the caller's side."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = open(path, "wb")  # noqa: SIM115 - closed by close()

    def write(self, data: bytes) -> None:
        self._file.write(data)

    def flush(self) -> None:
        self._file.flush()

    def close(self, *, fsync: bool) -> None:
        if not self._file.closed:
            self._file.flush()
            if fsync:
                os.fsync(self._file.fileno())
            self._file.close()

    def discard(self) -> None:
        self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


class DocumentStorage(Protocol):
    def stage(self) -> StagedFile:
        """A new staging file (blocking: call it off the event loop when it matters)."""
        ...

    async def publish(self, staged: StagedFile, key: str) -> None:
        """Make the staged file the object ``key``, atomically."""
        ...

    def local_path(self, key: str) -> Path:
        """A local path to read the object from (FileNotFoundError when it is gone)."""
        ...

    async def delete(self, key: str) -> bool:
        """Remove the object; False when there was none."""
        ...


def check_key(key: str) -> str:
    if not _KEY.match(key) or ".." in key:
        raise ValueError(f"{key!r} is not a storage key.")
    return key


class LocalStorage:
    """Files under one folder; staging files in its ``.incoming`` subfolder, on the same
    file system, so publishing is one ``rename``."""

    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = root.expanduser().resolve()
        self.fsync = fsync
        self._incoming = self.root / ".incoming"
        self._made: set[Path] = set()

    def _folder(self, path: Path) -> None:
        if path not in self._made:
            path.mkdir(parents=True, exist_ok=True)
            self._made.add(path)

    def stage(self) -> StagedFile:
        self._folder(self._incoming)
        handle, name = tempfile.mkstemp(dir=self._incoming, prefix="upload-")
        os.close(handle)
        return StagedFile(Path(name))

    async def publish(self, staged: StagedFile, key: str) -> None:
        target = self.root / check_key(key)
        await asyncio.to_thread(self._publish, staged, target)

    def _publish(self, staged: StagedFile, target: Path) -> None:
        staged.close(fsync=self.fsync)
        self._folder(target.parent)
        os.replace(staged.path, target)
        if self.fsync:
            # The rename itself is durable once its folder is flushed.
            folder = os.open(target.parent, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)

    def local_path(self, key: str) -> Path:
        path = self.root / check_key(key)
        if not path.is_file():
            raise FileNotFoundError(key)
        return path

    async def delete(self, key: str) -> bool:
        path = self.root / check_key(key)
        try:
            await asyncio.to_thread(path.unlink)
        except FileNotFoundError:
            return False
        return True
