"""Upload latency: ``POST /api/v1/documents`` with 1 MB PDFs from 20 concurrent uploaders.

    .venv/bin/python -m bench.documents \\
        --database-url postgresql://postgres@127.0.0.1:5432/opsapi_bench_documents

One API process (uvicorn, no worker: the bench measures the upload path, which does no
extraction) stores files in a temporary folder with fsync on, as by default. Each
uploader holds one keep-alive connection (a raw socket sending a prepared multipart
request, so the client costs little CPU on the shared machine) and measures from the
first byte sent to the last byte of the 202 read. Two runs:

- back-to-back: each uploader sends its next upload as soon as the last is answered
  (the server is saturated; latency includes queueing);
- paced: each uploader sends one upload per second (the load a target is about).

The database named in the URL is dropped and recreated. Results go to
``bench/results/documents.json`` and between the documents markers of
``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]

from backend.auth import service as auth
from backend.config import Settings
from backend.db import create_engine, create_sessionmaker
from bench.database import bench_database_url, recreate, server_version
from bench.report import latency_summary, machine_info, write_json
from tests.features.documents.files import padded_pdf

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "documents.json"
DOC = ROOT / "docs" / "benchmarks.md"
START_MARKER = "<!-- documents:start -->"
END_MARKER = "<!-- documents:end -->"
TARGET_P99_MS = 150.0
BOUNDARY = b"opsapi-bench-boundary-7f3a"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.documents", description=__doc__)
    parser.add_argument(
        "--database-url",
        default="postgresql://postgres@127.0.0.1:5432/opsapi_bench_documents",
        help="Server and database the bench may drop and recreate.",
    )
    parser.add_argument("--uploaders", type=int, default=20)
    parser.add_argument("--size", type=int, default=1024 * 1024, help="Bytes per PDF.")
    parser.add_argument("--uploads", type=int, default=25, help="Back-to-back, per uploader.")
    parser.add_argument("--paced-seconds", type=int, default=20, help="Paced run length.")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--no-write", action="store_true", help="Print only.")
    return parser.parse_args(argv)


def request_bytes(port: int, key: str, pdf: bytes) -> bytes:
    body = (
        b"--" + BOUNDARY + b"\r\n"
        b'Content-Disposition: form-data; name="file"; filename="report.pdf"\r\n'
        b"Content-Type: application/pdf\r\n\r\n" + pdf + b"\r\n--" + BOUNDARY + b"--\r\n"
    )
    head = (
        f"POST /api/v1/documents HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {key}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY.decode()}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body


async def read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = next(
        int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")
    )
    await reader.readexactly(length)
    return status


async def uploader(
    port: int,
    request: bytes,
    *,
    count: int | None,
    until: float | None,
    interval: float,
    offset: float = 0.0,
) -> list[float]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    latencies: list[float] = []
    loop = asyncio.get_running_loop()
    try:
        sent = 0
        # Paced uploaders start spread over the interval, as independent clients would.
        next_at = loop.time() + offset
        while (count is None or sent < count) and (until is None or loop.time() < until):
            if interval:
                await asyncio.sleep(max(0.0, next_at - loop.time()))
                next_at += interval
            started = time.perf_counter()
            writer.write(request)
            await writer.drain()
            status = await read_response(reader)
            latencies.append(time.perf_counter() - started)
            if status != 202:
                raise RuntimeError(f"upload answered {status}")
            sent += 1
    finally:
        writer.close()
    return latencies


async def run(args: argparse.Namespace) -> dict[str, Any]:
    args.database_url = bench_database_url(args.database_url)
    await recreate(args.database_url)
    settings = Settings(database_url=args.database_url)
    engine = create_engine(args.database_url, settings)
    async with create_sessionmaker(engine)() as session:
        tenant = await auth.create_tenant(session, "bench")
        key = (await auth.create_key(session, tenant)).key
        await session.commit()
    version = await server_version(engine)
    await engine.dispose()
    storage = tempfile.mkdtemp(prefix="opsapi-bench-documents-")
    env = {
        **os.environ,
        "OPSAPI_DATABASE_URL": args.database_url,
        "OPSAPI_RUN_WORKER": "false",
        "OPSAPI_LOG_LEVEL": "WARNING",
        "OPSAPI_DOCUMENTS__STORAGE_PATH": storage,
        "OPSAPI_DOCUMENTS__MONTHLY_UPLOAD_QUOTA": "0",
    }
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "uvicorn", "backend.main:create_app", "--factory",
        "--host", "127.0.0.1", "--port", str(args.port), "--no-access-log",
        cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    request = request_bytes(args.port, key, padded_pdf(args.size))
    try:
        await _until_up(args.port)
        # Warm-up: connections, prepared statements, code paths.
        await asyncio.gather(
            *(uploader(args.port, request, count=3, until=None, interval=0) for _ in range(4))
        )
        server_cpu = psutil.Process(server.pid)
        cpu_before = _cpu_seconds(server_cpu)
        client_before = _cpu_seconds(psutil.Process())
        started = time.perf_counter()
        runs = await asyncio.gather(
            *(
                uploader(args.port, request, count=args.uploads, until=None, interval=0)
                for _ in range(args.uploaders)
            )
        )
        elapsed = time.perf_counter() - started
        server_seconds = _cpu_seconds(server_cpu) - cpu_before
        client_seconds = _cpu_seconds(psutil.Process()) - client_before
        back_to_back = [x for r in runs for x in r]
        until = asyncio.get_running_loop().time() + args.paced_seconds
        paced_runs = await asyncio.gather(
            *(
                uploader(
                    args.port,
                    request,
                    count=None,
                    until=until,
                    interval=1.0,
                    offset=i / args.uploaders,
                )
                for i in range(args.uploaders)
            )
        )
        paced = [x for r in paced_runs for x in r]
    finally:
        server.terminate()
        await server.wait()
        shutil.rmtree(storage, ignore_errors=True)
    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(version),
        "command": ("python -m bench.documents " + shlex.join(sys.argv[1:])).strip(),
        "uploaders": args.uploaders,
        "size_bytes": len(request),
        "target_p99_ms": TARGET_P99_MS,
        "back_to_back": {
            **latency_summary(back_to_back),
            "uploads_per_second": round(len(back_to_back) / elapsed, 1),
            "server_cpu_ms_per_upload": round(server_seconds * 1000 / len(back_to_back), 2),
            "client_cpu_ms_per_upload": round(client_seconds * 1000 / len(back_to_back), 2),
        },
        "paced": {**latency_summary(paced), "rate_per_uploader_per_second": 1.0},
    }


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


async def _until_up(port: int) -> None:
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError("the API server did not start")


def render(results: dict[str, Any]) -> str:
    target = results["target_p99_ms"]
    rows = []
    for name, label in (("back_to_back", "back-to-back"), ("paced", "paced, 1 upload/s each")):
        r = results[name]
        verdict = "meets" if r["p99_ms"] <= target else "**misses**"
        rows.append(
            f"| {label} | {r['count']} | {r['p50_ms']:.1f} | {r['p90_ms']:.1f} | "
            f"{r['p99_ms']:.1f} | {r['max_ms']:.1f} | ≤ {target:.0f} | {verdict} |"
        )
    m = results["machine"]
    return "\n".join(
        [
            START_MARKER,
            "## Documents: upload latency",
            "",
            f"`POST /api/v1/documents` with {results['size_bytes'] / 1048576:.2f} MB multipart "
            f"bodies (1 MB PDFs), {results['uploaders']} concurrent uploaders on keep-alive "
            "connections, one uvicorn process without a worker, files fsynced to a local "
            f"folder. Target: p99 ≤ {target:.0f} ms.",
            "",
            "| run | uploads | p50 ms | p90 ms | p99 ms | max ms | target p99 | verdict |",
            "|---|---|---|---|---|---|---|---|",
            *rows,
            "",
            f"Back-to-back throughput: {results['back_to_back']['uploads_per_second']} "
            f"uploads/s; CPU per upload: API process "
            f"{results['back_to_back']['server_cpu_ms_per_upload']} ms, bench client "
            f"{results['back_to_back']['client_cpu_ms_per_upload']} ms.",
            "",
            f"Measured {results['measured_at']} on {m['nproc']} × {m['cpu']}, Python "
            f"{m['python']}, PostgreSQL {m['postgresql']}, commit {m['commit']}, load average "
            f"{m['load_average']}, with bench, API process and PostgreSQL on the same machine. "
            "Command:",
            "",
            f"    .venv/bin/{results['command']}",
            END_MARKER,
        ]
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    results = asyncio.run(run(args))
    section = render(results)
    print(section)
    if args.no_write:
        return
    write_json(RESULTS, results)
    text = DOC.read_text(encoding="utf-8")
    if START_MARKER in text:
        before, rest = text.split(START_MARKER, 1)
        text = before + section + rest.split(END_MARKER, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    DOC.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
