"""``calcdx serve --workers N``: processes, balancing, job claiming, clean stop."""

import json
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from calcdx.errors import CalcdxError
from calcdx.web import WebSettings, create_app
from calcdx.web.jobs import JobStore
from calcdx.web.serve import serve_command

from .conftest import CASE, fake_analysis, nifti_bytes

LISTENING = "workers listening on"
linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="SO_REUSEPORT balancing is Linux's"
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _post_case(sock: socket.socket, port: int) -> int:
    body = json.dumps(CASE).encode()
    sock.sendall(
        f"POST /api/ddx HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    while len(rest) < length:
        rest += sock.recv(65536)
    return int(head.split(b" ")[1])


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()]


def _established_by_process(port: int, pids: list[int]) -> Counter[int]:
    """Established server-side TCP connections on `port`, by owning process (Linux /proc)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].split(":")[1], 16)
        if local_port == port and fields[3] == "01":  # ESTABLISHED
            inodes.add(fields[9])
    owners: Counter[int] = Counter()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                owners[pid] += 1
    return owners


def _start(command: list[str], log: Path, env: dict | None = None) -> subprocess.Popen:
    """Start a server, its stderr into `log`; return once every worker listens."""
    with log.open("wb") as sink:
        server = subprocess.Popen(command, env=env, stderr=sink)
    deadline = time.monotonic() + 120
    while LISTENING not in log.read_text():
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise AssertionError(f"workers did not start: {log.read_text()}")
        time.sleep(0.1)
    return server


@linux_only
def test_two_workers_share_connections_and_stop_cleanly(tmp_path):
    port = _free_port()
    log = tmp_path / "server.log"
    command = [sys.executable, "-m", "calcdx.cli.main", "serve", "--port", str(port)]
    env = os.environ | {"XDG_STATE_HOME": str(tmp_path / "state")}
    server = _start([*command, "--workers", "2"], log, env)
    try:
        workers = [
            pid
            for pid in _children(server.pid)
            if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()
        ]
        assert len(workers) == 2

        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(40)]
        try:
            assert {_post_case(sock, port) for sock in clients} == {200}
            owners = _established_by_process(port, workers)
        finally:
            for sock in clients:
                sock.close()
        # the kernel spreads connections by hash: fewer than 5 of 40 on one worker has a
        # probability near 1e-7 for a fair split, while one shared socket gives 40/0
        assert sum(owners.values()) == 40
        assert min(owners[pid] for pid in workers) >= 5, owners
    finally:
        server.terminate()
        code = server.wait(60)
    assert code == 0, log.read_text()
    for pid in workers:  # gone (reaped by the server before it exited)
        assert not Path(f"/proc/{pid}").exists()


@pytest.mark.parametrize("workers", [0, -1, 65])
def test_worker_count_is_checked(workers, tmp_path):
    with pytest.raises(CalcdxError, match="--workers"):
        serve_command(workers=workers, state_dir=tmp_path)


@linux_only
def test_port_in_use_is_one_line_error(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(CalcdxError, match=f"cannot listen on 127.0.0.1:{port}.*--port"):
            serve_command(port=port, workers=2, state_dir=tmp_path)


def test_settings_travel_to_workers_intact(tmp_path):
    settings = WebSettings(
        host="0.0.0.0",
        token="t0ken-long-enough-here",
        data_dir=tmp_path / "data",
        state_dir=tmp_path / "state",
        database_url="sqlite:///x.db",
        max_upload_bytes=1234,
        max_extracted_bytes=5678,
    )
    assert WebSettings.from_json(settings.to_json()) == settings
    unsafe = json.loads(settings.to_json()) | {"token": None}
    with pytest.raises(CalcdxError, match="token"):  # checked again on arrival
        WebSettings.from_json(json.dumps(unsafe))


def test_a_queued_job_is_claimed_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    first, second = JobStore(url), JobStore(url)
    try:
        job = first.create(tmp_path / "in.nii")
        assert first.claim(job.id) is True
        assert second.claim(job.id) is False
        seen = second.get(job.id)
        assert seen is not None and seen.status == "running"
        assert first.claim("no-such-job") is False
    finally:
        first.close()
        second.close()


def test_a_worker_app_leaves_running_jobs_to_the_parent(tmp_path):
    settings = WebSettings(state_dir=tmp_path / "state")
    store = JobStore(settings.resolved_database_url)
    (tmp_path / "in.nii").write_bytes(nifti_bytes())
    running = store.create(tmp_path / "in.nii")
    store.mark_running(running.id)  # another worker is running it
    queued = store.create(tmp_path / "in.nii")
    app = create_app(settings, run_analysis=fake_analysis, settle_jobs=False)
    try:
        deadline = time.monotonic() + 30
        while (job := store.get(queued.id)) is not None and job.status != "done":
            assert time.monotonic() < deadline, job
            time.sleep(0.05)
        still = store.get(running.id)
        assert still is not None and still.status == "running"
    finally:
        app.state.calcdx.runner.shutdown()
        store.close()


@linux_only
def test_a_worker_that_cannot_start_stops_the_server_with_one_line(tmp_path, monkeypatch, capfd):
    import calcdx.web.serve as serve

    # the workers find the port taken (a listener without SO_REUSEPORT appears after the
    # parent's own check), so each ends with one line, and the parent stops the server
    real_check = serve._listening_socket
    taken: list[socket.socket] = []

    def check_then_take(host: str, port: int) -> socket.socket:
        sock = real_check(host, port)
        sock.close()
        blocker = socket.socket()
        blocker.bind((host, port))
        blocker.listen()
        taken.append(blocker)
        return socket.socket()

    monkeypatch.setattr(serve, "_listening_socket", check_then_take)
    try:
        with pytest.raises(CalcdxError, match="stopped on its own \\(exit code 2\\)"):
            serve_command(port=_free_port(), workers=2, state_dir=tmp_path)
    finally:
        for sock in taken:
            sock.close()
    err = capfd.readouterr().err
    assert "cannot listen on 127.0.0.1" in err and "Traceback" not in err


def _job(port: int, job_id: str) -> dict:
    """The job, asked again when the connection lands on a worker as it is killed."""
    import urllib.request

    for _ in range(20):
        try:
            url = f"http://127.0.0.1:{port}/api/jobs/{job_id}"
            with urllib.request.urlopen(url, timeout=10) as response:
                return json.loads(response.read())
        except OSError:
            time.sleep(0.2)
    raise AssertionError("the server does not answer")


def _slow_server_script(tmp_path: Path) -> Path:
    """`calcdx serve` whose analysis takes a minute.

    The workers and their job processes import this main module again (spawn),
    which swaps the analysis in each of them.
    """
    script = tmp_path / "serve_slow.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "import jobfakes\n"
        "import calcdx.web.app\n"
        "calcdx.web.app.default_run_analysis = jobfakes.sleepy\n"
        "if __name__ == '__main__':\n"
        "    from calcdx.cli.main import main\n"
        "    sys.exit(main(sys.argv[1:]))\n"
    )
    return script


def _post_path(port: int, name: str) -> str:
    import urllib.parse
    import urllib.request

    body = urllib.parse.urlencode({"path": name}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/studies", data=body)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["id"]


def _is_worker(process) -> bool:
    return "spawn_main" in " ".join(process.cmdline())


@linux_only
def test_a_killed_worker_is_restarted_and_its_job_failed(tmp_path):

    import psutil

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "study.nii").write_bytes(nifti_bytes())
    script = _slow_server_script(tmp_path)
    port = _free_port()
    log = tmp_path / "server.log"
    command = [sys.executable, str(script), "serve", "--port", str(port)]
    command += ["--workers", "2", "--state-dir", str(tmp_path / "state")]
    command += ["--data-dir", str(data_dir)]
    server = _start(command, log)
    try:
        job_id = _post_path(port, "study.nii")
        workers = [p for p in psutil.Process(server.pid).children() if _is_worker(p)]
        assert len(workers) == 2
        busy = analysis = None
        deadline = time.monotonic() + 60
        while analysis is None:
            assert time.monotonic() < deadline, "the job did not start"
            for worker in workers:
                children = [p for p in worker.children() if "_child_entry" in p.cmdline()[-1]]
                if children and _job(port, job_id)["step"] == "waiting":  # in the analysis
                    busy, analysis = worker, children[0]
            time.sleep(0.2)
        busy.kill()  # kill -9
        deadline = time.monotonic() + 60
        while (job := _job(port, job_id))["status"] == "running":
            assert time.monotonic() < deadline, "the job was left running"
            time.sleep(0.2)
        assert job["status"] == "failed"
        assert "server process running it stopped (exit code -9)" in job["error"]
        while analysis.is_running() and analysis.status() != psutil.STATUS_ZOMBIE:
            # the analysis process dies with its worker (a zombie until someone reaps it)
            assert time.monotonic() < deadline, (analysis.status(), analysis.ppid())
            time.sleep(0.1)
        while "was restarted" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(10)]
        try:
            assert {_post_case(sock, port) for sock in clients} == {200}
        finally:
            for sock in clients:
                sock.close()
        alive = [p for p in psutil.Process(server.pid).children() if _is_worker(p)]
        assert len(alive) == 2 and busy.pid not in {p.pid for p in alive}
    finally:
        server.terminate()
        code = server.wait(60)
    assert code == 0, log.read_text()
    assert "Traceback" not in log.read_text()


@linux_only
def test_ctrl_c_stops_the_server_its_job_process_and_records_the_job(tmp_path):
    import signal

    import psutil

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "study.nii").write_bytes(nifti_bytes())
    port = _free_port()
    command = [sys.executable, str(_slow_server_script(tmp_path)), "serve", "--port", str(port)]
    command += ["--state-dir", str(tmp_path / "state"), "--data-dir", str(data_dir)]
    log = tmp_path / "server.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(command, stderr=sink, start_new_session=True)  # a terminal
    try:
        deadline = time.monotonic() + 120
        while "Uvicorn running" not in log.read_text():
            assert server.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        job_id = _post_path(port, "study.nii")
        while _job(port, job_id)["step"] != "waiting":
            assert time.monotonic() < deadline, "the job did not start"
            time.sleep(0.2)
        (analysis,) = psutil.Process(server.pid).children()
        os.killpg(server.pid, signal.SIGINT)  # Ctrl-C: the terminal signals its whole group
        assert server.wait(60) == 0, log.read_text()
    finally:
        if server.poll() is None:
            server.kill()
    analysis.wait(10)
    assert "Traceback" not in log.read_text()
    store = JobStore(f"sqlite:///{tmp_path / 'state' / 'calcdx.db'}")
    try:
        job = store.get(job_id)
    finally:
        store.close()
    assert job is not None and job.status == "failed" and "server stopped" in job.error
