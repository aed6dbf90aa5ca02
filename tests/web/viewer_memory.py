"""Peak memory of a server while its study page is viewed for the first time.

Writes a finished study (an int16 NIfTI of the given shape, its
``lesions.nii.gz`` and ``result.json``) straight into a new state folder and its
job database, starts ``create_app`` under uvicorn in a child process on a free
loopback port, then opens the study page `views` times at once, as several
people opening the same new study would, and fetches each page's first slice.
Resident memory of the server and of its own child processes is sampled every
20 ms. Run it against any source tree (``PYTHONPATH=<src>``) to compare::

    PYTHONPATH=src python tests/web/viewer_memory.py 768 768 256 --views 3

It prints one JSON line: baseline and peak resident MiB of the server, peak of
server plus children, and the seconds the views took.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
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
    hu = np.full(shape, 40, dtype=np.int16)
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


def measure(shape: tuple[int, int, int], views: int = 3) -> dict[str, Any]:
    """Serve a new study of `shape` and view its page `views` times at once."""
    with tempfile.TemporaryDirectory(prefix="calcdx-viewer-memory-") as folder:
        state = Path(folder) / "state"
        job_id = write_study(state, shape)
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
            process = psutil.Process(server.pid)
            baseline = process.memory_info().rss
            peaks = {"server": baseline, "total": baseline}
            done = threading.Event()

            def sample() -> None:
                while not done.is_set():
                    try:
                        own = process.memory_info().rss
                        children = sum(
                            c.memory_info().rss for c in process.children(recursive=True)
                        )
                    except psutil.Error:
                        continue
                    peaks["server"] = max(peaks["server"], own)
                    peaks["total"] = max(peaks["total"], own + children)
                    time.sleep(0.02)

            sampler = threading.Thread(target=sample)
            sampler.start()
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
            done.set()
            sampler.join()
        finally:
            server.terminate()
            server.wait(30)
    mib = 1024**2
    return {
        "shape": list(shape),
        "views": views,
        "volume_int16_mib": round(int(np.prod(shape)) * 2 / mib, 1),
        "server_baseline_mib": round(baseline / mib, 1),
        "server_peak_mib": round(peaks["server"] / mib, 1),
        "server_and_children_peak_mib": round(peaks["total"] / mib, 1),
        "seconds": round(seconds, 2),
        "errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shape", type=int, nargs=3)
    parser.add_argument("--views", type=int, default=3)
    options = parser.parse_args()
    print(json.dumps(measure(tuple(options.shape), options.views)))


if __name__ == "__main__":
    main()
