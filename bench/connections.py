"""Plain HTTP/1.1 over asyncio streams for the benchmarks' clients, and the ports their
servers listen on: so little client code that the figures hold little client overhead."""

from __future__ import annotations

import asyncio
import socket
import time


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_port(port: int, what: str) -> None:
    for _ in range(300):
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{what} did not start")


class Connection:
    """One keep-alive HTTP/1.1 connection on a raw socket."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    @classmethod
    async def once(cls, port: int, path: str, key: str) -> tuple[int, bytes, float]:
        connection = await cls.open(port)
        try:
            return await connection.get(path, key)
        finally:
            connection.close()

    async def get(self, path: str, key: str) -> tuple[int, bytes, float]:
        """Status, body and seconds from writing the request to reading its last byte."""
        request = f"GET {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {key}\r\n\r\n"
        started = time.perf_counter()
        self.writer.write(request.encode())
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        body = await self.reader.readexactly(length)
        return int(status_line.split()[1]), body, time.perf_counter() - started

    def close(self) -> None:
        self.writer.close()
