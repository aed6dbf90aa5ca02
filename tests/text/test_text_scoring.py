"""Field-level scoring of a read case against a hand transcription (hand-counted truths)."""

from calcdx.case import parse_case
from calcdx.text.scoring import case_items, score_cases

HAND = parse_case(
    {
        "format": "calcdx-case/1",
        "patient": {"age_years": 34, "sex": "male"},
        "clinical": ["trauma_recent"],
        "labs": {"calcium": "normal"},
        "imaging": {"region": "thigh", "pattern": ["zonal_peripheral"], "size_mm": 60},
    }
)
READ = parse_case(
    {
        "format": "calcdx-case/1",
        "patient": {"age_years": 34.0},
        "clinical": ["trauma_remote"],
        "labs": {"calcium": "normal"},
        "imaging": {"region": "thigh", "pattern": ["zonal_peripheral", "linear"], "size_mm": 60.2},
    }
)


def test_items_flatten_every_value():
    assert case_items(HAND) == {
        ("patient.age_years", "34"),
        ("patient.sex", "male"),
        ("clinical", "trauma_recent"),
        ("labs", "calcium=normal"),
        ("imaging.region", "thigh"),
        ("imaging.pattern", "zonal_peripheral"),
        ("imaging.size_mm", "60"),
    }


def test_precision_and_recall_by_group():
    agreement = score_cases([(READ, HAND)])
    # patient: age agrees, sex missed -> P 1/1, R 1/2
    assert (agreement.precision("patient"), agreement.recall("patient")) == (1.0, 0.5)
    # clinical: one wrong value -> P 0/1, R 0/1
    assert (agreement.precision("clinical"), agreement.recall("clinical")) == (0.0, 0.0)
    # appearance: pattern zonal + size agree, 'linear' extra -> P 2/3, R 2/2
    assert agreement.precision("imaging_appearance") == 2 / 3
    assert agreement.recall("imaging_appearance") == 1.0
    assert agreement.support("imaging_appearance") == 2


def test_a_refused_text_misses_everything():
    agreement = score_cases([(None, HAND)])
    assert agreement.recall("imaging_where") == 0.0
    assert agreement.precision("imaging_where") is None
