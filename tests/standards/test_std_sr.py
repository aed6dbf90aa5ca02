"""DICOM SR TID 1500: per-lesion values equal result.json and reference the SEG segments."""

import highdicom as hd
import pydicom
import pytest

from calcdx.errors import InputError
from calcdx.standards import read_sr_lesions, write_seg, write_sr, write_standard_objects
from calcdx.standards.codes import mass_unit, matrix_code, pattern_code, pattern_value

KEYS = ("volume_mm3", "mean_hu", "peak_hu", "agatston", "mass")


@pytest.fixture(scope="module")
def written(study, tmp_path_factory):
    out = tmp_path_factory.mktemp("sr")
    seg = write_seg(study.result, study.volume, study.headers, out / "lesions.seg.dcm")
    # the SR is written from result.json (the document), the SEG from the result object
    sr = write_sr(study.document, study.volume, seg, study.headers, out / "report.sr.dcm")
    return seg, sr


@pytest.fixture(scope="module")
def back(written):
    return read_sr_lesions(written[1])


def test_values_equal_result_json(study, back):
    lesions = {int(r["id"]): r for r in study.document["lesions"]}
    assert set(back) == set(lesions)
    for lesion_id, row in lesions.items():
        got = back[lesion_id]
        for key in KEYS:
            assert got[key] == pytest.approx(row[key], rel=1e-12, abs=1e-12), (lesion_id, key)
        assert got["units"] == {
            "volume_mm3": "mm3", "mean_hu": "[hnsf'U]", "peak_hu": "[hnsf'U]",
            "agatston": "1", "mass": "[hnsf'U].cm3",
        }
        assert got["pattern"] == [p["pattern"] for p in row["pattern"]]
        code = matrix_code(row["matrix"])
        assert got["matrix_code"] == (code.scheme_designator, code.value)


def test_decimal_strings_agree_with_result_json(study, written):
    """NumericValue (DS, at most 16 characters) rounds the value only in its last digits."""
    ds = pydicom.dcmread(written[1])
    values = []

    def walk(items):
        for item in items:
            if item.ValueType == "NUM":
                measured = item.MeasuredValueSequence[0]
                values.append((float(measured.NumericValue), float(measured.FloatingPointValue)))
                assert len(str(measured.NumericValue)) <= 16
            walk(item.get("ContentSequence", []))

    walk(ds.ContentSequence)
    assert len(values) == len(KEYS) * len(study.document["lesions"])
    expected = sorted(float(r[k]) for r in study.document["lesions"] for k in KEYS)
    assert sorted(v[1] for v in values) == pytest.approx(expected, rel=1e-12)
    for decimal, exact in values:
        assert decimal == pytest.approx(exact, rel=1e-9, abs=1e-9)


def test_groups_reference_the_matching_segment(study, written, back):
    seg = hd.seg.segread(written[0])
    for number in seg.get_segment_numbers():
        description = seg.get_segment_description(number)
        lesion_id = int(description.segment_label.split()[-1])
        assert back[lesion_id]["segment_number"] == number
        assert back[lesion_id]["tracking_uid"] == description.tracking_uid
    report = pydicom.dcmread(written[1])
    assert report.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR
    assert report.CompletionFlag == "COMPLETE" and report.VerificationFlag == "UNVERIFIED"
    evidence = {
        item.ReferencedSOPInstanceUID
        for study_item in report.CurrentRequestedProcedureEvidenceSequence
        for series in study_item.ReferencedSeriesSequence
        for item in series.ReferencedSOPSequence
    }
    assert evidence == {ds.SOPInstanceUID for ds in study.headers} | {seg.SOPInstanceUID}


def test_segmentation_without_the_lesion_is_refused(study, written, tmp_path):
    doc = dict(study.document)
    doc["lesions"] = [*doc["lesions"], {**doc["lesions"][0], "id": 999}]
    with pytest.raises(InputError, match="no segment labelled 'Lesion 999'"):
        write_sr(doc, study.volume, written[0], study.headers, tmp_path / "x.dcm")


def test_write_standard_objects_from_the_dicom_folder(study, tmp_path):
    files = write_standard_objects(study.result, study.volume, study.dicom, tmp_path,
                                   document=study.document)
    assert sorted(files) == ["fhir", "seg", "sr"]
    assert all(p.is_file() for p in files.values())
    assert set(read_sr_lesions(files["sr"])) == {r.id for r in study.result.lesions}


def test_codes_for_units_and_patterns():
    assert mass_unit("mg hydroxyapatite").value == "mg"
    assert mass_unit("relative mass, HU x cm^3 (c = 1)").value == "[hnsf'U].cm3"
    for pattern in ("punctate", "lucent_centre_round", "multiple_uniform_bodies"):
        code = pattern_code(pattern)
        assert pattern_value(code.scheme_designator, code.value) == pattern
    assert pattern_code("punctate").scheme_designator == "SCT"
    assert pattern_code("zonal_peripheral").scheme_designator == "99CALCDX"
