"""The cohort on a real dask.distributed cluster: all studies, failures kept, resumable."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from calcdx.cohort import SCHEMAS, analyze_cohort, connect, read_manifest


@pytest.fixture(scope="module")
def cohort_run(cohort_inputs: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("cohort_out")
    run, files = analyze_cohort(cohort_inputs / "manifest.csv", out, n_workers=2)
    return out, run, files


def test_every_study_is_processed_and_a_bad_one_is_recorded(cohort_run):
    out, run, _ = cohort_run
    status = {r["study_id"]: r["status"] for r in run.records}
    assert status == {"A_0": "done", "A_6": "done", "B_baseline": "done", "B_month12": "done",
                      "C_0": "failed"}
    assert run.n_workers == 2
    (failure,) = run.failed
    assert "\n" not in failure["error"] and "broken.nii.gz" in failure["error"]
    assert json.loads((out / "failed" / "C_0.json").read_text())["status"] == "failed"
    # the work really ran in the worker processes, not in this one
    assert {r["pid"] for r in run.records} - {os.getpid()}
    assert not list((out / "studies").glob(".partial-*"))


def test_tables_match_the_study_folders_and_the_documented_schema(cohort_run):
    out, _, files = cohort_run
    for name, schema in SCHEMAS.items():
        assert pq.read_schema(files[name]).names == schema.names
    con = connect(out)
    per_study = dict(con.execute("SELECT study_id, count(*) FROM lesions GROUP BY study_id")
                     .fetchall())
    for study_id in ("A_0", "A_6", "B_baseline", "B_month12"):
        doc = json.loads((out / "studies" / study_id / "result.json").read_text())
        assert per_study.get(study_id, 0) == len(doc["lesions"])
        total = con.execute(f"SELECT volume_mm3 FROM studies WHERE study_id = '{study_id}'")
        assert total.fetchone()[0] == pytest.approx(doc["totals"]["volume_mm3"])
    failed = con.execute("SELECT status FROM studies WHERE study_id = 'C_0'").fetchone()
    assert failed[0] == "failed"


def test_followup_changes_of_the_known_pair_are_in_the_changes_table(cohort_run):
    out, _, _ = cohort_run
    con = connect(out)
    rows = con.execute("SELECT status, count(*) FROM changes WHERE subject = 'A' GROUP BY status")
    counts = dict(rows.fetchall())
    # the pair plants two grown lesions, one stable, one resolved and one new
    assert counts.get("grown") == 2 and counts.get("resolved") == 1 and counts.get("new") == 1
    assert (out / "followup" / "A" / "A_0__A_6" / "compare.html").is_file()
    assert (out / "followup" / "B" / "B_baseline__B_month12" / "compare.json").is_file()


def test_a_second_run_redoes_nothing(cohort_inputs: Path, cohort_run):
    out, _, _ = cohort_run
    before = {p: p.stat().st_mtime_ns for p in (out / "studies").glob("*/study.json")}
    compare = out / "followup" / "A" / "A_0__A_6" / "compare.json"
    compare_mtime = compare.stat().st_mtime_ns
    run, _ = analyze_cohort(cohort_inputs / "manifest.csv", out, n_workers=2)
    assert run.ran == [] and run.n_workers == 0
    assert {p: p.stat().st_mtime_ns for p in (out / "studies").glob("*/study.json")} == before
    assert compare.stat().st_mtime_ns == compare_mtime


def test_a_changed_input_is_analysed_again(cohort_inputs: Path, tmp_path: Path):
    manifest = tmp_path / "m.csv"
    (tmp_path / "x.nii.gz").write_bytes((cohort_inputs / "b0.nii.gz").read_bytes())
    manifest.write_text("path,subject,timepoint\nx.nii.gz,X,0\n")
    first, _ = analyze_cohort(manifest, tmp_path / "out", n_workers=1)
    again, _ = analyze_cohort(manifest, tmp_path / "out", n_workers=1)
    (tmp_path / "x.nii.gz").write_bytes((cohort_inputs / "b1.nii.gz").read_bytes())
    changed, _ = analyze_cohort(manifest, tmp_path / "out", n_workers=1)
    assert (first.ran, again.ran, changed.ran) == (["X_0"], [], ["X_0"])


def test_kill_9_midway_then_resume_loses_nothing_and_repeats_nothing(
    cohort_inputs: Path, tmp_path: Path
):
    # Eight studies on one worker, so the run is still going when it is killed.
    lines = ["path,subject,timepoint,study"]
    for n in range(8):
        source = cohort_inputs / f"b{n % 2}.nii.gz"
        lines.append(f"{source},S{n},0,s{n}")
    manifest = tmp_path / "m.csv"
    manifest.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    calcdx = [sys.executable, "-m", "calcdx.cli.main"]
    proc = subprocess.Popen([*calcdx, "cohort", str(manifest), "--out", str(out),
                             "--workers", "1", "--no-followup"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if len(list((out / "studies").glob("*/study.json"))) >= 2:
            break
        assert proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the CLI, its scheduler and its worker
    proc.wait()
    first = {p.parent.name: (p.stat().st_mtime_ns, json.loads(p.read_text())["pid"])
             for p in (out / "studies").glob("*/study.json")}
    assert 2 <= len(first) < 8
    for folder in (out / "studies").iterdir():  # every named folder is complete
        if not folder.name.startswith("."):
            assert (folder / "study.json").is_file() and (folder / "result.json").is_file()
    resumed = subprocess.run([*calcdx, "cohort", str(manifest), "--out", str(out),
                              "--workers", "1", "--no-followup"],
                             capture_output=True, text=True, timeout=600, check=False)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    after = {p.parent.name: (p.stat().st_mtime_ns, json.loads(p.read_text())["pid"])
             for p in (out / "studies").glob("*/study.json")}
    assert set(after) == {f"s{n}" for n in range(8)}
    assert {k: after[k] for k in first} == first  # done before the kill: not done again
    assert not list((out / "studies").glob(".partial-*"))
    studies = read_manifest(manifest)
    assert len(connect(out).execute("SELECT * FROM studies WHERE status = 'done'").fetchall()) \
        == len(studies)


def test_a_real_scheduler_and_worker_in_separate_processes(cohort_inputs: Path, tmp_path: Path):
    bin_dir = Path(sys.executable).parent
    scheduler_file = tmp_path / "scheduler.json"
    scheduler = subprocess.Popen(
        [str(bin_dir / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
         "--no-dashboard", "--scheduler-file", str(scheduler_file)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    worker = None
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(scheduler_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        worker = subprocess.Popen(
            [str(bin_dir / "dask"), "worker", address, "--nworkers", "1", "--nthreads", "1",
             "--no-dashboard", "--host", "127.0.0.1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        manifest = tmp_path / "m.csv"
        manifest.write_text(f"path,subject,timepoint\n{cohort_inputs / 'b0.nii.gz'},R,0\n")
        out = tmp_path / "out"
        result = subprocess.run(
            [sys.executable, "-m", "calcdx.cli.main", "cohort", str(manifest), "--out", str(out),
             "--scheduler", address], capture_output=True, text=True, timeout=300, check=False)
        assert result.returncode == 0, result.stderr[-2000:]
        record = json.loads((out / "studies" / "R_0" / "study.json").read_text())
        assert record["status"] == "done"
        assert record["pid"] not in (os.getpid(), scheduler.pid)
    finally:
        for proc in (worker, scheduler):
            if proc is not None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)


def test_an_unreachable_scheduler_is_a_clear_error(cohort_inputs: Path, tmp_path: Path):
    result = subprocess.run(
        [sys.executable, "-m", "calcdx.cli.main", "cohort", str(cohort_inputs / "manifest.csv"),
         "--out", str(tmp_path / "o"), "--scheduler", "tcp://127.0.0.1:9"],
        capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2
    assert "cannot reach the Dask scheduler" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_local_cluster_starts_while_another_holds_the_dashboard_port():
    # Another Dask cluster on the machine holds 8787, the default dashboard port; the local
    # cluster must take a free loopback port instead, without a warning (warnings are errors).
    import socket
    from contextlib import suppress
    from urllib.parse import urlparse

    from calcdx.cohort.run import _client

    holder = socket.socket()
    with suppress(OSError):  # already held by someone else: the situation under test
        holder.bind(("127.0.0.1", 8787))
        holder.listen()
    try:
        client = _client(None, 1)
        try:
            port = client.cluster.scheduler.http_server.port
            assert port != 8787
            assert urlparse(client.scheduler.address).hostname == "127.0.0.1"
        finally:
            client.close()
            client.cluster.close()
    finally:
        holder.close()
