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
