"""SEG and SR from real single CT images of pydicom's test data, checked by dciodvfy.

Each file has a header a SEG must not copy blindly: 693_UNCI says PatientIdentityRemoved
YES without the method DICOM then requires (PS3.3 C.7.1.1, Type 1C); explicit_VR-UN has no
SliceThickness, which a SEG's pixel measures need (Type 1); bad_sequence carries hashed
hexadecimal UIDs, which no SEG can reference validly (PS3.5 9.1). The truth is dciodvfy
and the standard, not calcdx's output.
"""

import warnings
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from calcdx.study import run_study


def _file(name: str) -> Path:
    path = get_testdata_file(name)
    if path is None:
        pytest.skip(f"{name} is not installed (pydicom-data)")
    return Path(str(path))


@pytest.mark.parametrize(("name", "said"), [
    ("693_UNCI.dcm", "PatientIdentityRemoved YES without a method"),
    ("explicit_VR-UN.dcm", "no SliceThickness"),
])
def test_seg_and_sr_are_valid_where_the_source_header_falls_short(name, said, tmp_path,
                                                                   dciodvfy_errors):
    source = _file(name)
    ds = pydicom.dcmread(source, stop_before_pixels=True)
    if name == "693_UNCI.dcm":
        assert ds.PatientIdentityRemoved == "YES" and "DeidentificationMethod" not in ds
    else:
        assert not ds.get("SliceThickness")  # present, empty
    outcome = run_study(source, tmp_path / "out")
    assert {"seg", "sr"} <= set(outcome.files)
    assert dciodvfy_errors(outcome.files["seg"]) == []
    assert dciodvfy_errors(outcome.files["sr"]) == []
    assert len([w for w in outcome.document["warnings"] if said in w]) == 1


def test_hashed_uids_skip_seg_and_sr_with_one_line_and_no_console_warning(tmp_path):
    source = _file("bad_sequence.dcm")
    with pytest.warns(UserWarning, match="Invalid value for VR UI"):  # pydicom says so too
        study_uid = str(pydicom.dcmread(source, stop_before_pixels=True).StudyInstanceUID)
    assert not pydicom.uid.RE_VALID_UID.match(study_uid)  # hexadecimal, not digits and dots
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning reaching the caller raises here
        outcome = run_study(source, tmp_path / "out")
    assert "seg" not in outcome.files and "sr" not in outcome.files
    assert {"result", "report", "labels", "fhir"} <= set(outcome.files)
    said = [w for w in outcome.document["warnings"] if "not a valid DICOM UID" in w]
    assert len(said) == 1 and "SEG and SR not written" in said[0]
