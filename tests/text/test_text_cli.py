"""``calcdx parse`` and ``calcdx ddx --text`` (in-process, and one real pipe)."""

import io
import json
import subprocess
import sys

from calcdx.cli.main import main

TEXT = (
    "A 34-year-old man kicked in the thigh 3 weeks ago; a 4 cm peripherally calcified mass "
    "in vastus lateralis with a lucent cleft; no periosteal reaction"
)


def test_parse_prints_each_field_with_its_words(capsys):
    assert main(["parse", TEXT]) == 0
    out = capsys.readouterr().out
    # the region comes from the clause that describes the mass, not the kick's
    assert "imaging.region" in out and "'vastus lateralis'" in out and '"thigh"' in out
    assert "'34-year-old'" in out
    assert '"associated_absent"' in out


def test_parse_lists_what_it_did_not_understand(capsys):
    assert main(["parse", "calcified mass in the thigh with a zebroid shimmer"]) == 0
    assert "Not understood (not in the case): 'zebroid shimmer'" in capsys.readouterr().out


def test_parse_reads_a_file_and_stdin(tmp_path, capsys, monkeypatch):
    note = tmp_path / "note.txt"
    note.write_text("calcified mass\nin the thigh\n")
    assert main(["parse", str(note)]) == 0
    assert "thigh" in capsys.readouterr().out
    monkeypatch.setattr(sys, "stdin", io.StringIO(note.read_text()))
    assert main(["parse", "-"]) == 0
    assert "thigh" in capsys.readouterr().out


def test_off_topic_text_exits_2_with_one_line(capsys):
    assert main(["parse", "lovely weather today"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no finding understood") and err.count("\n") == 1


def test_parse_json_one_case_per_line_in_order(tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("calcification in the thigh\n\nlovely weather\nhip calcification\n")
    assert main(["parse", "--json", str(notes)]) == 2
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0]["imaging"]["region"] == "thigh"
    assert lines[1]["line"] == 3 and "no finding understood" in lines[1]["error"]
    assert lines[2]["imaging"]["region"] == "hip"


def test_parse_json_readings_carry_the_words(tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text(TEXT + "\n")
    assert main(["parse", "--json", "--readings", str(notes)]) == 0
    reading = json.loads(capsys.readouterr().out)
    assert {"field": "imaging.size_mm", "value": 40.0, "words": "4 cm"}.items() <= {
        **next(f for f in reading["fields"] if f["field"] == "imaging.size_mm")
    }.items()


def test_ddx_text(capsys):
    assert main(["ddx", "--json", "--text", TEXT]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["differential"][0]["entity"] == "myositis_ossificans"


def test_ddx_wants_files_or_text_not_both(tmp_path, capsys):
    assert main(["ddx", "--text", TEXT, "case.json"]) == 2
    assert "not both" in capsys.readouterr().err


def test_parse_pipes_into_ddx(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text(TEXT + "\nchalky lobulated calcification around the hip on dialysis\n")
    calcdx = [sys.executable, "-m", "calcdx.cli.main"]
    parsed = subprocess.run(
        [*calcdx, "parse", "--json", str(notes)], capture_output=True, text=True, check=True
    )
    ranked = subprocess.run(
        [*calcdx, "ddx", "--json", "-"],
        input=parsed.stdout,
        capture_output=True,
        text=True,
        check=True,
    )
    tops = [json.loads(line)["differential"][0]["entity"] for line in ranked.stdout.splitlines()]
    assert tops == ["myositis_ossificans", "uraemic_tumoral_calcinosis"]
