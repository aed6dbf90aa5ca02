from pathlib import Path

import pytest

from calcdx.cohort.manifest import read_manifest
from calcdx.errors import InputError


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "scan.nii.gz").write_bytes(b"")
    path = tmp_path / "m.csv"
    path.write_text(text)
    return path


def test_rows_are_read_with_paths_context_and_timepoint_order(tmp_path: Path):
    path = _write(tmp_path, "subject,timepoint,path,age,sex,history,labs\n"
                            "s1,12,scan.nii.gz,40,male,trauma_recent;surgery_local,calcium=high\n"
                            "s1,2,scan.nii.gz,39,male,,\n")
    first, second = read_manifest(path)
    assert first.path == (tmp_path / "scan.nii.gz").resolve()
    assert first.study_id == "s1_12"
    assert first.context["patient"] == {"age_years": 40.0, "sex": "male"}
    assert first.context["clinical"] == ["trauma_recent", "surgery_local"]
    assert first.context["labs"] == {"calcium": "high"}
    # timepoints "12" and "2" sort as numbers, not as text
    assert (first.order, second.order) == (1, 0)


@pytest.mark.parametrize(("text", "message"), [
    ("path,subject\nscan.nii.gz,s1\n", "missing column 'timepoint'"),
    ("path,subject,timepoint,histroy\nscan.nii.gz,s1,0,x\n", "unknown column 'histroy'"),
    ("path,subject,timepoint\nnowhere.nii.gz,s1,0\n", "line 2: study path 'nowhere.nii.gz'"),
    ("path,subject,timepoint,age\nscan.nii.gz,s1,0,old\n", "line 2: age 'old'"),
    ("path,subject,timepoint,history\nscan.nii.gz,s1,0,flu\n", "line 2:"),
    ("path,subject,timepoint\nscan.nii.gz,s1,0\nscan.nii.gz,s1,0\n", "repeats line 2"),
    ("path,subject,timepoint\n", "no studies listed"),
    ("", "empty manifest"),
])
def test_bad_manifests_are_refused_naming_the_problem(tmp_path: Path, text: str, message: str):
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        read_manifest(_write(tmp_path, text))
