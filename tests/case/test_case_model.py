import pytest

from calcdx.case import load_vocabulary, parse_case
from calcdx.errors import CaseError


def minimal(**imaging):
    return {"format": "calcdx-case/1", "imaging": imaging}


def test_minimal_case_has_only_unknowns():
    case = parse_case({"format": "calcdx-case/1"})
    assert case.imaging.region is None
    assert case.clinical == [] and case.clinical_absent == []


@pytest.mark.parametrize(
    ("data", "field", "bad"),
    [
        (minimal(pattern=["zonal"]), "imaging.pattern[0]", "'zonal'"),
        (minimal(region="leg"), "imaging.region", "'leg'"),
        ({"format": "calcdx-case/1", "labs": {"calcium": "raised"}}, "labs.calcium", "'raised'"),
        ({"format": "calcdx-case/1", "clinical": ["trauma"]}, "clinical[0]", "'trauma'"),
    ],
)
def test_bad_value_names_field_value_and_allowed(data, field, bad):
    with pytest.raises(CaseError) as info:
        parse_case(data)
    message = str(info.value)
    assert message.startswith(field)
    assert bad in message
    assert "allowed values:" in message
    assert "\n" not in message


def test_allowed_values_listed_come_from_vocabulary():
    with pytest.raises(CaseError) as info:
        parse_case(minimal(matrix="bone"))
    for value in load_vocabulary().values("matrix"):
        assert value in str(info.value)


def test_unknown_field_is_rejected_with_allowed_fields():
    with pytest.raises(
        CaseError, match=r"imaging\.colour: unknown field; allowed fields here: modality"
    ):
        parse_case(minimal(colour="white"))


def test_missing_or_wrong_format():
    with pytest.raises(CaseError, match="format: required field is missing"):
        parse_case({"imaging": {}})
    with pytest.raises(CaseError, match="'calcdx-case/2' is not a supported format"):
        parse_case({"format": "calcdx-case/2"})


def test_present_and_absent_conflict():
    with pytest.raises(CaseError, match=r"both clinical and clinical_absent"):
        parse_case({"format": "calcdx-case/1", "clinical": ["gout"], "clinical_absent": ["gout"]})


@pytest.mark.parametrize("age", [-1, 121, "old"])
def test_age_out_of_range(age):
    with pytest.raises(CaseError, match=r"patient\.age_years"):
        parse_case({"format": "calcdx-case/1", "patient": {"age_years": age}})


def test_not_an_object():
    with pytest.raises(CaseError, match="must be a JSON object"):
        parse_case(["format"])
