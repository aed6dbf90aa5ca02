"""Web API benchmark: ``POST /api/ddx`` latency under 50 concurrent clients on loopback.

``calcdx serve`` runs in a child process on 127.0.0.1 (a free port, a temporary
state folder), once with one worker process and once with one per CPU; 50
keep-alive clients in one asyncio loop post the literature cases in turn for
20 s or 100,000 requests, whichever comes first.
The clients speak minimal HTTP/1.1 over asyncio streams (pre-encoded requests,
``Content-Length`` framing), so that client overhead stays small next to the
server's time; latency is measured from just before the request is written to
when its whole body has been read.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import yaml

T = TypeVar("T")

CASES = Path(__file__).parents[1] / "tests" / "data" / "literature_cases.yaml"
HOST = "127.0.0.1"
CLIENTS = 50
DURATION_S = 20.0
MAX_REQUESTS = 100_000
TARGET_P95_MS = 30.0



def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _requests(port: int) -> list[bytes]:
    """One pre-encoded ``POST /api/ddx`` per literature case."""
    out = []
    for item in yaml.safe_load(CASES.read_text(encoding="utf-8")):
        body = json.dumps(item["case"]).encode("utf-8")
        head = (
            f"POST /api/ddx HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        out.append(head.encode("ascii") + body)
    return out


async def _read_response(reader: asyncio.StreamReader) -> int:
    """Read one response; return its status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    await reader.readexactly(length)
    return status


async def _drive(port: int, requests: list[bytes]) -> tuple[list[float], int, float]:
    """Run the clients; return latencies (s), error count and wall time (s)."""
    latencies: list[float] = []
    errors = 0
    counter = [0]
    start = time.perf_counter()
    deadline = start + DURATION_S

    async def client(offset: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            while time.perf_counter() < deadline and counter[0] < MAX_REQUESTS:
                index = counter[0]
                counter[0] += 1
                request = requests[(index + offset) % len(requests)]
                begin = time.perf_counter()
                writer.write(request)
                status = await _read_response(reader)
                latencies.append(time.perf_counter() - begin)
                if status != 200:
                    errors += 1
        finally:
            writer.close()

    await asyncio.gather(*(client(i) for i in range(CLIENTS)))
    return latencies, errors, time.perf_counter() - start


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run the clients on uvloop when installed (as uvicorn's server is): the load
    generator shares the CPUs with the server, so its own cost should stay small."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def _wait_listening(log: Path, workers: int, process: subprocess.Popen[bytes]) -> None:
    """Wait for the server's own word that every worker listens."""
    marker = "Application startup complete" if workers == 1 else "workers listening on"
    deadline = time.monotonic() + 120.0
    while marker not in log.read_text(encoding="utf-8", errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the calcdx server did not start: {log.read_text()[-2000:]}")
        time.sleep(0.1)


def measure(workers: int) -> dict[str, float]:
    """Start ``calcdx serve --workers N``, warm it up, drive it; return the figures."""
    port = _free_port()
    requests = _requests(port)
    with tempfile.TemporaryDirectory() as state:
        log = Path(state) / "server.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "calcdx.cli.main", "serve", "--port", str(port),
                 "--workers", str(workers)],
                env=os.environ | {"PYTHONUNBUFFERED": "1", "XDG_STATE_HOME": state},
                stderr=sink,
            )
        try:
            _wait_listening(log, workers, process)

            async def warm() -> None:
                for _ in range(2 * workers):
                    reader, writer = await asyncio.open_connection(HOST, port)
                    for request in requests:
                        writer.write(request)
                        await _read_response(reader)
                    writer.close()

            _run(warm())
            client_cpu = time.process_time()
            latencies, errors, wall = _run(_drive(port, requests))
            client_cpu = time.process_time() - client_cpu
        finally:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    ms = np.array(latencies) * 1e3
    return {
        "workers": float(workers),
        "requests": float(len(ms)),
        "errors": float(errors),
        "wall_s": wall,
        "rps": len(ms) / wall,
        "median_ms": float(np.median(ms)),
        "p95_ms": float(np.percentile(ms, 95)),
        "p99_ms": float(np.percentile(ms, 99)),
        "client_cpu": client_cpu / wall,
        "cases": float(len(requests)),
    }


def _stack() -> str:
    """uvicorn's HTTP parser and event loop as they will be picked here."""
    http = "httptools" if importlib.util.find_spec("httptools") else "h11 (pure Python)"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return f"HTTP {http}, loop {loop}, {os.cpu_count()} CPU(s) shared with the clients"


def run() -> list[str]:
    """Measure with one worker and with one per CPU; return markdown lines."""
    per_cpu = max(os.cpu_count() or 1, 2)
    rows = [measure(1), measure(per_cpu)]
    target = rows[-1]
    verdict = "met" if target["p95_ms"] <= TARGET_P95_MS else "missed"
    lines = [
        "## Web API: `POST /api/ddx` under load",
        "",
        f"`calcdx serve` on loopback, {CLIENTS} concurrent keep-alive clients for up to "
        f"{DURATION_S:.0f} s or {MAX_REQUESTS} requests, cycling {target['cases']:.0f} "
        f"literature cases; {_stack()}. Client CPU is the load generator's own share of "
        "one core (the clients run on uvloop too).",
        "",
        "| workers | requests | errors | requests/s | median (ms) | p95 (ms) | p99 (ms) "
        "| client CPU |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for f in rows:
        lines.append(
            f"| {f['workers']:.0f} | {f['requests']:.0f} | {f['errors']:.0f} | {f['rps']:.0f} "
            f"| {f['median_ms']:.1f} | {f['p95_ms']:.1f} | {f['p99_ms']:.1f} "
            f"| {f['client_cpu']:.0%} |"
        )
    lines += [
        "",
        f"Target p95 <= {TARGET_P95_MS:.0f} ms with one worker per CPU "
        f"(`calcdx serve --workers {per_cpu}`): {verdict}.",
        "",
    ]
    return lines


if __name__ == "__main__":
    print("\n".join(run()))
