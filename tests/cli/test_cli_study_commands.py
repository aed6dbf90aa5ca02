import json

from calcdx.cli.main import main
from calcdx.phantom import make_phantom, write_dicom_series


def test_series_lists_the_written_series(tmp_path, capsys):
    phantom = make_phantom(shape=(48, 48, 12), spacing_mm=(3.2, 3.2, 16.0))
    write_dicom_series(phantom.volume, tmp_path / "dicom")
    assert main(["series", "--json", str(tmp_path / "dicom")]) == 0
    (item,) = json.loads(capsys.readouterr().out)
    assert item["modality"] == "CT"
    assert item["n_slices"] == 12


def test_series_on_missing_path_is_one_line(tmp_path, capsys):
    assert main(["series", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err


def test_phantom_command_writes_nifti_dicom_and_truth(tmp_path, capsys):
    assert main(["phantom", str(tmp_path / "ph")]) == 0
    truth = json.loads((tmp_path / "ph" / "truth.json").read_text())
    assert (tmp_path / "ph" / "phantom.nii.gz").exists()
    assert len(list((tmp_path / "ph" / "dicom").iterdir())) > 10
    assert truth


LONG_UIDS = ("1.2.826.0.1.3680043.8.498.10276541288903315573208479116312457111",
             "1.2.826.0.1.3680043.8.498.10276541288903315573208479116312457222")


def _two_series(root):
    phantom = make_phantom(shape=(48, 48, 12), spacing_mm=(3.2, 3.2, 16.0))
    write_dicom_series(phantom.volume, root / "a", series_uid=LONG_UIDS[0])
    write_dicom_series(phantom.volume, root / "b", series_uid=LONG_UIDS[1])


def test_series_table_prints_whole_uids_on_a_narrow_terminal(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    _two_series(tmp_path)
    assert main(["series", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for uid in LONG_UIDS:
        assert len(uid) == 64 and uid in out  # on one line, not cropped or folded
    assert main(["series", "--json", str(tmp_path)]) == 0
    assert {item["uid"] for item in json.loads(capsys.readouterr().out)} == set(LONG_UIDS)


def test_analyze_series_takes_a_unique_prefix_and_names_an_ambiguous_one(tmp_path, capsys):
    _two_series(tmp_path / "in")
    shared = LONG_UIDS[0][:-3]
    assert main(["analyze", str(tmp_path / "in"), "--series", shared,
                 "--out", str(tmp_path / "x")]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and "is the start of 2 series UIDs" in lines[0]
    assert LONG_UIDS[0] in lines[0] and LONG_UIDS[1] in lines[0]
    assert not (tmp_path / "x").exists()

    assert main(["analyze", str(tmp_path / "in"), "--series", LONG_UIDS[1][:-2],
                 "--out", str(tmp_path / "out")]) == 0
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["input"]["metadata"]["series_uid"] == LONG_UIDS[1]
    # the SEG references the series the prefix named
    import pydicom

    seg = pydicom.dcmread(tmp_path / "out" / "lesions.seg.dcm")
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == LONG_UIDS[1]
