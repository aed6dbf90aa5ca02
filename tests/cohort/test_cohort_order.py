"""Submission order of a cohort: largest inputs first."""

from calcdx.cohort.run import _input_bytes


def test_input_bytes_of_a_file_a_folder_and_a_missing_path(tmp_path):
    (tmp_path / "a.nii.gz").write_bytes(b"x" * 300)
    series = tmp_path / "series"
    (series / "sub").mkdir(parents=True)
    (series / "1.dcm").write_bytes(b"x" * 100)
    (series / "sub" / "2.dcm").write_bytes(b"x" * 250)
    assert _input_bytes(tmp_path / "a.nii.gz") == 300
    assert _input_bytes(series) == 350
    assert _input_bytes(tmp_path / "absent") == 0
