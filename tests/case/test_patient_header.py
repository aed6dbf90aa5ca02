"""Patient age and sex from the DICOM header (calcdx.case.patient).

Truth: the DICOM Age String definition (PS3.5 6.2, VR AS), calendar arithmetic,
the real anonymised Siemens series (no PatientAge, PatientSex, PatientBirthDate,
per its README) and the naive-Bayes identity for a missing finding.
"""

import dataclasses
from datetime import date
from pathlib import Path

import numpy as np
import pydicom
import pytest

from calcdx.case.model import parse_case
from calcdx.case.patient import merge_patient, one_sex_note, patient_from_header
from calcdx.reasoning import Engine, default_engine
from calcdx.reasoning.model import Calibration

REALCT = Path(__file__).resolve().parents[2] / ".." / "shared" / "realct"


@pytest.mark.parametrize(("value", "years"), [
    ("058Y", 58.0), ("006M", 0.5), ("010W", 70 / 365.25), ("003D", 3 / 365.25),
    ("100Y", 100.0),
])
def test_age_string(value, years):
    got = patient_from_header({"PatientAge": value})
    assert got.age_years == pytest.approx(years, abs=0.01)
    assert got.age_source == "DICOM PatientAge"


def test_age_from_birth_and_study_dates():
    birth, study = date(1964, 7, 2), date(2022, 12, 8)
    got = patient_from_header({"PatientBirthDate": "19640702", "StudyDate": "20221208"})
    assert got.age_years == pytest.approx((study - birth).days / 365.25, abs=0.01)
    assert 58 < got.age_years < 59
    assert got.age_source == "DICOM PatientBirthDate and StudyDate"
    # no StudyDate: the next date attribute is used
    got = patient_from_header({"PatientBirthDate": "20000101", "AcquisitionDate": "20100101"})
    assert got.age_years == pytest.approx(10.0, abs=0.01)


@pytest.mark.parametrize("header", [
    {}, {"PatientAge": "abc"}, {"PatientAge": ""},
    {"PatientBirthDate": "20100101", "StudyDate": "20000101"},  # born after the study
    {"PatientBirthDate": "2010", "StudyDate": "20200101"}, {"PatientAge": "200Y"},
])
def test_age_unknown(header):
    assert patient_from_header(header).age_years is None


@pytest.mark.parametrize(("code", "sex"), [("M", "male"), ("F", "female"), ("O", None),
                                           ("", None), (" f ", "female")])
def test_sex(code, sex):
    assert patient_from_header({"PatientSex": code}).sex == sex


def test_the_user_wins_and_the_header_fills_gaps():
    meta = {"source": "dicom", "patient": patient_from_header(
        {"PatientAge": "058Y", "PatientSex": "M"}).model_dump()}
    context, used = merge_patient({"patient": {"age_years": 34}}, meta)
    assert context["patient"] == {"age_years": 34, "sex": "male"}
    assert used.age_source == "given by the user" and used.sex_source == "DICOM PatientSex"
    assert used.notes == []
    context, used = merge_patient({}, {"source": "nifti"})
    assert "patient" not in context
    assert used.age_years is None and used.sex is None
    assert any("NIfTI" in n and "sex not known" in n for n in used.notes)


def test_one_sex_note():
    assert one_sex_note(0.99, None) == "occurs in women only; the patient's sex is not known"
    assert one_sex_note(0.01, None) == "occurs in men only; the patient's sex is not known"
    assert one_sex_note(0.5, None) is None
    assert one_sex_note(0.99, "female") is None


def test_missing_sex_marginalises_over_both_sexes():
    """Without sex, P(e | F) = sum_s P(e | F, s) P(s | F) (exact for plain naive Bayes)."""
    # the identity is exact for plain naive Bayes, so the deployed calibration is set aside
    engine = Engine(dataclasses.replace(default_engine().model, calibration=Calibration()))
    imaging = {"modality": "ct", "region": "pelvis", "pattern": ["central_dense"]}
    cases = [parse_case({"format": "calcdx-case/1", "imaging": imaging, **extra})
             for extra in ({}, {"patient": {"sex": "female"}}, {"patient": {"sex": "male"}})]
    none, fem, male = (d.probabilities for d in engine.diagnose_many(cases))
    ids = engine.model.entity_ids
    q = np.asarray(engine.model.female)
    p0 = np.array([none[e] for e in ids])
    w_female = float(p0 @ q)
    mixed = np.array([fem[e] * w_female + male[e] * (1 - w_female) for e in ids])
    assert np.allclose(mixed, p0, atol=1e-6)
    # and an entity of women only is neither excluded nor taken as certain
    ovary = ids.index("ovarian_dermoid")
    assert male[ids[ovary]] < p0[ovary] < fem[ids[ovary]]


def _phantom_series(tmp_path, **attrs):
    from calcdx.phantom import make_phantom
    from calcdx.phantom.writers import write_dicom_series

    volume = make_phantom(shape=(96, 96, 24), spacing_mm=(1.6, 1.6, 4.0)).volume
    folder = tmp_path / "series"
    for path in write_dicom_series(volume, folder):
        ds = pydicom.dcmread(path)
        for key, value in attrs.items():
            setattr(ds, key, value)
        ds.save_as(path)
    return folder


def test_synthetic_dicom_header_reaches_the_differential(tmp_path):
    from calcdx.io import read_volume
    from calcdx.study import run_study

    folder = _phantom_series(tmp_path, PatientAge="067Y", PatientSex="F")
    assert read_volume(folder).metadata["patient"]["age_years"] == 67.0
    out = run_study(folder, tmp_path / "a").document
    assert out["patient_context"]["age_years"] == 67.0
    assert out["patient_context"]["sex"] == "female"
    assert out["patient_context"]["age_source"] == "DICOM PatientAge"
    for group in out["groups"]:
        assert group["case"]["patient"] == {"age_years": 67.0, "sex": "female"}
    # the user wins
    out = run_study(folder, tmp_path / "b", context={"patient": {"sex": "male"}}).document
    assert out["patient_context"]["sex"] == "male"
    assert out["patient_context"]["sex_source"] == "given by the user"
    assert all(g["case"]["patient"]["sex"] == "male" for g in out["groups"])
    assert not any("sex_note" in item for g in out["groups"]
                   for item in g["differential"]["differential"])


def test_unknown_sex_is_said_and_one_sex_entities_are_marked(tmp_path):
    from calcdx.report.html import report_view
    from calcdx.study import run_study

    folder = _phantom_series(tmp_path, PatientBirthDate="19500101", StudyDate="20200101")
    out = run_study(folder, tmp_path / "c").document
    assert out["patient_context"]["sex"] is None
    assert out["patient_context"]["age_years"] == pytest.approx(70.0, abs=0.01)
    female = dict(zip(default_engine().model.entity_ids, default_engine().model.female,
                      strict=True))
    marked = 0
    for group in out["groups"]:
        assert "sex" not in group["case"].get("patient", {})
        for item in group["differential"]["ranking"]:
            one_sex = female[item["entity"]] >= 0.95 or female[item["entity"]] <= 0.05
            assert ("sex_note" in item) == one_sex
            marked += one_sex
    assert marked
    rows = {r["label"]: r["value"] for r in report_view(out, {})["study"]}
    assert rows["Patient sex"].startswith("not known")


@pytest.mark.skipif(not REALCT.is_dir(), reason="shared real-CT folder absent")
def test_real_anonymised_siemens_series_has_no_patient_values():
    from calcdx.io import read_volume

    volume = read_volume(REALCT / "ts_chest_abdomen_dicom")
    assert volume.metadata["patient"] == {"age_years": None, "sex": None, "age_source": None,
                                          "sex_source": None}
    context, used = merge_patient({}, volume.metadata)
    assert context == {}
    assert any("DICOM header" in n for n in used.notes)
