"""The command line never prints a traceback: usage slips, hostile case files, crashes."""

import json
import re
from pathlib import Path

import pytest

import calcdx.cli.main as cli
from calcdx.cli.main import main

BAD_INPUTS = Path(__file__).parents[1] / "data" / "bad_inputs"
CASE_FILES = sorted(BAD_INPUTS.glob("case_*.json"))


def one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err
    assert lines, "no error message"
    return lines[-1]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["anlyze"], "No such command 'anlyze'"),
        (["ddx", "--jsn", "x.json"], "No such option: --jsn"),
        (["analyze"], "Missing argument"),
        (["kb", "show"], "Missing argument"),
        (["ddx", "--top", "many", "x.json"], "Invalid value for '--top'"),
    ],
)
def test_usage_slips_give_clicks_one_line_and_exit_2(argv, expected, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert expected in one_line_error(err)


def test_the_corpus_holds_every_case_kind():
    assert len(CASE_FILES) >= 10


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda p: p.name)
def test_every_bad_case_file_is_refused_with_one_line(path, capsys):
    assert main(["ddx", str(path)]) == 2
    captured = capsys.readouterr()
    line = one_line_error(captured.err)
    assert line.startswith(f"error: {path}") or line.startswith(f"error: {path.name}")
    assert captured.out == ""


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("case_age_true.json", "patient.age_years: True"),
        ("case_age_string.json", "patient.age_years: '45'"),
        ("case_size_false.json", "imaging.size_mm: False"),
        ("case_int_5000_digits.json", "a number 5000 characters long"),
        ("case_nan.json", "NaN is not a JSON number"),
        ("case_deep_40.json", "nested deeper than 32 levels"),
        ("case_repeated_key.json", "'age_years' is given twice"),
    ],
)
def test_the_message_names_the_problem(name, expected, capsys):
    assert main(["ddx", str(BAD_INPUTS / name)]) == 2
    assert expected in capsys.readouterr().err


def test_json_100000_deep_is_refused_not_a_recursion_error(tmp_path, capsys):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    assert main(["ddx", str(deep)]) == 2
    assert "nested deeper than 32 levels" in one_line_error(capsys.readouterr().err)


def test_json_100000_deep_on_stdin(monkeypatch, capsys):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("{" * 100_000))
    assert main(["ddx", "-"]) == 2
    assert "nested deeper" in capsys.readouterr().err


def test_context_file_100000_deep_is_refused(tmp_path, capsys):
    deep = tmp_path / "context.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    assert main(["analyze", str(tmp_path / "none.nii.gz"), "--context", str(deep)]) == 2
    assert "nested deeper" in one_line_error(capsys.readouterr().err)


def test_one_bad_line_does_not_abort_the_batch(capsys):
    assert main(["ddx", "--json", str(BAD_INPUTS / "batch_mixed.jsonl")]) == 2
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert [row.get("case_id") for row in rows] == [
        "good-1",
        None,
        None,
        "true-age",
        None,
        "good-2",
    ]
    assert rows[0]["format"] == rows[-1]["format"] == "calcdx-differential/1"
    errors = [row["error"] for row in rows[1:-1]]
    assert errors[0].startswith("batch_mixed.jsonl:2: not valid JSON")
    assert "nested deeper" in errors[1]
    assert "patient.age_years" in errors[2]
    assert "5000 characters" in errors[3]
    assert "4 case(s) failed" in captured.err


def test_integer_ages_still_accepted(tmp_path, capsys):
    path = tmp_path / "c.json"
    path.write_text('{"format": "calcdx-case/1", "patient": {"age_years": 45}}')
    assert main(["ddx", "--json", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["format"] == "calcdx-differential/1"


def _explode() -> None:
    raise ZeroDivisionError("division by zero")


def test_unexpected_error_is_one_line_with_the_log(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setattr(cli, "default_engine", _explode)
    case = BAD_INPUTS.parent / "bad_inputs" / "batch_mixed.jsonl"
    assert main(["ddx", str(case)]) == 1
    err = capsys.readouterr().err
    line = one_line_error(err)
    assert len(err.strip().splitlines()) == 1
    assert "calcdx ddx failed unexpectedly: ZeroDivisionError at test_cli_errors.py:" in line
    log = tmp_path / "state" / "calcdx" / "crash.log"
    assert str(log) in line
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and "_explode" in text


def test_debug_shows_the_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setattr(cli, "default_engine", _explode)
    with pytest.raises(ZeroDivisionError):
        main(["--debug", "ddx", str(BAD_INPUTS / "batch_mixed.jsonl")])
    assert not (tmp_path / "state" / "calcdx" / "crash.log").exists()


def test_unwritable_log_still_one_line(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_STATE_HOME", str(blocker))
    monkeypatch.setattr(cli, "default_engine", _explode)
    assert main(["ddx", str(BAD_INPUTS / "batch_mixed.jsonl")]) == 1
    assert "rerun with --debug" in one_line_error(capsys.readouterr().err)


STUDY_FILES = sorted(
    p for p in BAD_INPUTS.iterdir() if p.name.startswith(("zip_", "nifti_", "dicom_"))
)


@pytest.mark.parametrize("path", STUDY_FILES, ids=lambda p: p.name)
def test_every_bad_study_file_is_exit_2_with_one_line(path, tmp_path):
    """``calcdx analyze`` in a process limited to 2 GiB, as a small machine would be."""
    import os
    import resource
    import subprocess
    import sys

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, resource.RLIM_INFINITY))

    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "calcdx.cli.main",
            "analyze",
            str(path),
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=limit,
        env=os.environ | {"XDG_STATE_HOME": str(tmp_path / "state")},
        check=False,
    )
    assert run.returncode == 2, run.stderr[-500:]
    line = one_line_error(run.stderr)
    assert line.startswith("error: ") and run.stderr.strip().count("\n") == 0
    assert not (tmp_path / "o").exists()


def test_bad_lines_in_a_table_batch_are_named_and_the_rest_is_ranked(capsys):
    assert main(["ddx", str(BAD_INPUTS / "batch_mixed.jsonl")]) == 2
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("error: batch_")]
    assert [line.split(":")[2] for line in errors] == ["2", "3", "4", "5"]
    assert "Traceback" not in captured.err
    # good-1 and good-2 (lines 1 and 6) were ranked, nothing else
    assert re.findall(r"Differential for case (\S+)", captured.out) == ["good-1", "good-2"]


def test_bad_lines_keep_their_place_across_scoring_chunks(tmp_path, capsys):
    lines = []
    for n in range(1, 1201):
        if n % 97 == 0:
            lines.append('{"format": "calcdx-case/1", "id": "bad", "patient": {"age_years": true}}')
        else:
            lines.append(json.dumps({"format": "calcdx-case/1", "id": f"c{n}"}))
    batch = tmp_path / "big.jsonl"
    batch.write_text("\n".join(lines) + "\n")
    assert main(["ddx", "--json", str(batch)]) == 2
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 1200
    for n, row in enumerate(rows, start=1):
        if n % 97 == 0:
            assert row["error"].startswith(f"big.jsonl:{n}: patient.age_years: True"), row
        else:
            assert row["case_id"] == f"c{n}" and row["format"] == "calcdx-differential/1"
