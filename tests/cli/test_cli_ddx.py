import json

from calcdx.cli.main import main

CASE = {
    "format": "calcdx-case/1",
    "id": "c1",
    "patient": {"age_years": 60},
    "clinical": ["dialysis"],
    "imaging": {
        "region": "hip",
        "location": "periarticular",
        "pattern": ["lobulated_chalky", "fluid_calcium_level"],
    },
}
BAD = {"format": "calcdx-case/1", "id": "bad", "imaging": {"pattern": ["zonal"]}}


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


def test_table(tmp_path, capsys):
    assert main(["ddx", write(tmp_path, "c.json", CASE)]) == 0
    out = capsys.readouterr().out
    assert "Uraemic" in out and "Findings worth checking next" in out


def test_json_follows_spec(tmp_path, capsys):
    assert main(["ddx", "--json", write(tmp_path, "c.json", CASE)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["format"] == "calcdx-differential/1"
    assert result["case_id"] == "c1"
    items = result["differential"]
    assert len(items) >= 10
    assert {
        "entity",
        "name",
        "probability",
        "supports",
        "against",
        "red_flags",
        "next_steps",
        "references",
    } <= set(items[0])
    assert items[0]["entity"] == "uraemic_tumoral_calcinosis"
    assert [i["probability"] for i in items] == sorted(
        (i["probability"] for i in items), reverse=True
    )
    assert {"field", "value", "why"} <= set(result["next_findings"][0])


def test_invalid_case_exits_2_with_one_line(tmp_path, capsys):
    assert main(["ddx", write(tmp_path, "bad.json", BAD)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    line = captured.err.strip()
    assert "\n" not in line
    assert "imaging.pattern[0]" in line and "'zonal'" in line and "zonal_peripheral" in line


def test_not_json_and_missing_file(tmp_path, capsys):
    path = tmp_path / "x.json"
    path.write_text("{not json")
    assert main(["ddx", str(path)]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert main(["ddx", str(tmp_path / "nope.json")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_jsonl_batch_keeps_order_and_reports_bad_lines(tmp_path, capsys):
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join(json.dumps(c) for c in (CASE, BAD, {**CASE, "id": "c3"})) + "\n")
    assert main(["ddx", "--json", str(path)]) == 2
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line.get("case_id") for line in lines] == ["c1", "bad", "c3"]
    assert "error" in lines[1] and "zonal" in lines[1]["error"]
    assert lines[2]["format"] == "calcdx-differential/1"


def test_several_files_and_stdin(tmp_path, capsys, monkeypatch):
    import io

    files = [write(tmp_path, "a.json", CASE), write(tmp_path, "b.json", {**CASE, "id": "b"})]
    assert main(["ddx", "--json", *files]) == 0
    assert [json.loads(x)["case_id"] for x in capsys.readouterr().out.splitlines()] == ["c1", "b"]
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(CASE) + "\n"))
    assert main(["ddx", "--json", "-"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[0])["case_id"] == "c1"


def test_demo_runs_the_whole_path(tmp_path, capsys):
    from calcdx.demo import main as demo

    assert demo(["--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Cysticercosis" in out and "Report:" in out
    result = json.loads((tmp_path / "analysis" / "result.json").read_text())
    assert result["groups"] and result["differential"]["format"] == "calcdx-differential/1"
