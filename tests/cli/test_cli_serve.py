"""``calcdx serve`` options reach the server's settings."""

import pytest

import calcdx.web.serve as serve
from calcdx.cli.main import main


@pytest.fixture
def started(monkeypatch):
    """What uvicorn would have been given (it is not started)."""
    import uvicorn

    seen: dict = {}

    def fake_run(app, **options):
        seen["settings"] = app.state.calcdx.settings
        seen["options"] = options
        app.state.calcdx.store.close()

    monkeypatch.setattr(uvicorn, "run", fake_run)
    return seen


def test_state_dir_and_job_limits_reach_the_settings(tmp_path, started):
    options = ["--state-dir", str(tmp_path / "s"), "--job-memory-gib", "1.5"]
    code = main(["serve", *options, "--job-minutes", "2"])
    assert code == 0
    settings = started["settings"]
    assert settings.state_dir == tmp_path / "s"
    assert settings.resolved_database_url.endswith(f"{tmp_path}/s/calcdx.db")
    assert (tmp_path / "s" / "calcdx.db").is_file()  # the job database went there
    assert settings.job_memory_bytes == int(1.5 * 1024**3) and settings.job_seconds == 120.0
    assert started["options"].get("ssl_certfile") is None


def test_job_limits_are_bounded(tmp_path, capsys):
    assert main(["serve", "--state-dir", str(tmp_path), "--job-memory-gib", "0.1"]) == 2
    assert "--job-memory-gib" in capsys.readouterr().err


def test_serve_command_keeps_its_defaults(tmp_path, started):
    serve.serve_command(state_dir=tmp_path)
    settings = started["settings"]
    assert settings.job_memory_bytes == 4 * 1024**3 and settings.job_seconds == 1800.0
