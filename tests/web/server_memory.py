"""Peak memory of a server while hostile uploads arrive and large studies are first viewed.

:func:`measure` writes a finished study (an int16 NIfTI of the given shape, its
``lesions.nii.gz`` and ``result.json``) straight into a new state folder and its
job database, starts ``create_app`` under uvicorn in a child process on a free
loopback port, then opens the study page `views` times at once, as several
people opening the same new study would, and fetches each page's first slice.
Resident memory of the server and of its own child processes is sampled every
20 ms. Run it against any source tree (``PYTHONPATH=<src>``) to compare::

    PYTHONPATH=src python tests/web/viewer_memory.py 768 768 256 --views 3

It prints one JSON line: baseline and peak resident MiB of the server, peak of
server plus children, and the seconds the views took. With ``--bombs``,
:func:`measure_uploads` sends the NIfTI gzip bomb of the bad-input corpus and a
zip of three 1 GiB files that start like DICOM (a few MB compressed) instead::

    PYTHONPATH=src python tests/web/server_memory.py --bombs
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import psutil

_SERVER = """
import sys, uvicorn
from pathlib import Path
from calcdx.web import WebSettings, create_app
app = create_app(WebSettings(state_dir=Path(sys.argv[1])))
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


def write_study(state: Path, shape: tuple[int, int, int]) -> str:
    """A finished job over an int16 volume of `shape` with one lesion; returns its id."""
    from calcdx.web.jobs import JobStore

    store = JobStore(f"sqlite:///{(state / 'calcdx.db').as_posix()}")
    job_id = store.new_id()
    job_dir = state / "jobs" / job_id
    out = job_dir / "output"
    out.mkdir(parents=True)
    affine = np.diag([-0.7, 0.7, 1.0, 1.0])
    hu = np.full(shape, -1000, dtype=np.int16)  # air around a soft-tissue body
    hu[tuple(slice(n // 8, n - n // 8) for n in shape)] = 40
    hu[tuple(n // 2 for n in shape)] = 1200
    nib.save(nib.Nifti1Image(hu, affine), str(job_dir / "input.nii"))
    del hu
    labels = np.zeros(shape, dtype=np.uint8)
    x, y, z = (n // 2 for n in shape)
    labels[x : x + 4, y : y + 4, z : z + 3] = 1
    nib.save(nib.Nifti1Image(labels, affine), str(out / "lesions.nii.gz"))
    del labels
    (out / "result.json").write_text(json.dumps({"format": "fake", "lesions": [], "groups": []}))
    store.create(job_dir / "input.nii", job_id)
    store.mark_done(job_id, out / "result.json")
    store.close()
    return job_id


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str, timeout: float = 600.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return bytes(response.read())


class _Sampler:
    """Peak resident memory of a process, alone and with its children, every 20 ms."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.baseline = self.process.memory_info().rss
        self.server = self.total = self.baseline
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        while not self._done.is_set():
            try:
                own = self.process.memory_info().rss
                children = sum(c.memory_info().rss for c in self.process.children(recursive=True))
            except psutil.Error:
                continue
            self.server = max(self.server, own)
            self.total = max(self.total, own + children)
            time.sleep(0.02)

    def __enter__(self) -> _Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def figures(self) -> dict[str, float]:
        mib = 1024**2
        return {
            "server_baseline_mib": round(self.baseline / mib, 1),
            "server_peak_mib": round(self.server / mib, 1),
            "server_and_children_peak_mib": round(self.total / mib, 1),
        }


@contextlib.contextmanager
def serving(state: Path) -> Iterator[tuple[str, int]]:
    """A server over `state` on a free loopback port: yields its address and pid."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER, str(state), str(port)], env=dict(os.environ)
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                _get(f"{base}/api/kb", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.2)
        yield base, server.pid
    finally:
        server.terminate()
        server.wait(30)


def measure(shape: tuple[int, int, int], views: int = 3) -> dict[str, Any]:
    """Serve a new study of `shape` and view its page `views` times at once."""
    with tempfile.TemporaryDirectory(prefix="calcdx-viewer-memory-") as folder:
        state = Path(folder) / "state"
        job_id = write_study(state, shape)
        with serving(state) as (base, pid), _Sampler(pid) as sampler:
            errors: list[str] = []

            def view() -> None:
                try:
                    page = _get(f"{base}/studies/{job_id}").decode("utf-8")
                    found = re.search(r'src="(/api/studies/[^"]+\.png[^"]*)"', page)
                    if found is None:
                        errors.append("no slice image on the page")
                        return
                    _get(base + found.group(1).replace("&amp;", "&"))
                except OSError as exc:
                    errors.append(str(exc))

            start = time.monotonic()
            threads = [threading.Thread(target=view) for _ in range(views)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            seconds = time.monotonic() - start
    return {
        "shape": list(shape),
        "views": views,
        "volume_int16_mib": round(int(np.prod(shape)) * 2 / 1024**2, 1),
        **sampler.figures(),
        "seconds": round(seconds, 2),
        "errors": errors,
    }


def dicm_zip_bomb(path: Path, members: int = 3, member_bytes: int = 1024**3) -> Path:
    """A zip of `members` files of `member_bytes` each that start like DICOM (zeros after)."""
    head = b"\x00" * 128 + b"DICM" + b"\x02\x00\x10\x00UI" + b"\x00" * 32
    chunk = b"\x00" * (16 * 1024**2)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as bundle:
        for n in range(members):
            with bundle.open(f"series/{n:04d}.dcm", "w", force_zip64=True) as out:
                out.write(head)
                left = member_bytes - len(head)
                while left > 0:
                    out.write(chunk[: min(left, len(chunk))])
                    left -= len(chunk)
    return path


def _post_file(url: str, name: str, data: bytes) -> tuple[int, str]:
    boundary = "calcdx-measure-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        url, data=body, headers={"content-type": f"multipart/form-data; boundary={boundary}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def measure_uploads(paths: list[Path]) -> dict[str, Any]:
    """Upload each file in turn to a new server; its answers, times and peak memory."""
    answers = []
    with tempfile.TemporaryDirectory(prefix="calcdx-upload-memory-") as folder:
        with serving(Path(folder) / "state") as (base, pid), _Sampler(pid) as sampler:
            for path in paths:
                start = time.monotonic()
                status, text = _post_file(f"{base}/api/studies", path.name, path.read_bytes())
                answers.append(
                    {
                        "file": path.name,
                        "bytes": path.stat().st_size,
                        "status": status,
                        "detail": json.loads(text).get("detail") if text else None,
                        "seconds": round(time.monotonic() - start, 2),
                    }
                )
            kept = sum(1 for _ in (Path(folder) / "state" / "jobs").glob("*"))
    return {"answers": answers, "job_folders_kept": kept, **sampler.figures()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shape", type=int, nargs="*", help="a study's shape (three numbers)")
    parser.add_argument("--views", type=int, default=3)
    parser.add_argument("--bombs", action="store_true", help="upload the bombs instead")
    options = parser.parse_args()
    if options.bombs:
        with tempfile.TemporaryDirectory() as folder:
            bomb = dicm_zip_bomb(Path(folder) / "dicm_bomb.zip")
            nifti = (
                Path(__file__).parents[1] / "data" / "bad_inputs" / "nifti_bomb_1024cubed.nii.gz"
            )
            print(json.dumps(measure_uploads([nifti, bomb])))
        return
    print(json.dumps(measure(tuple(options.shape), options.views)))


if __name__ == "__main__":
    main()
