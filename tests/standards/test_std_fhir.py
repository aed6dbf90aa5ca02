"""FHIR R4 bundle: parses with fhir.resources and its values equal result.json."""

import json

import pytest
from fhir.resources.R4B.bundle import Bundle

from calcdx.errors import InputError
from calcdx.standards import fhir_bundle, write_fhir
from calcdx.standards.codes import PRIVATE_SYSTEM

UNITS = {"volume_mm3": "mm3", "mean_hu": "[hnsf'U]", "peak_hu": "[hnsf'U]", "agatston": "1",
         "mass": "[hnsf'U].cm3"}


@pytest.fixture(scope="module")
def bundle(study, tmp_path_factory):
    path = write_fhir(study.document, tmp_path_factory.mktemp("fhir") / "fhir.json")
    return json.loads(path.read_text(encoding="utf-8"))


def test_bundle_parses_as_fhir(bundle):
    parsed = Bundle.model_validate(bundle)
    assert parsed.type == "collection"
    kinds = [e.resource.get_resource_type() for e in parsed.entry]
    assert kinds[0] == "DiagnosticReport"
    assert set(kinds[1:]) == {"Observation"}


def test_report_lists_every_observation(study, bundle):
    report = bundle["entry"][0]["resource"]
    assert report["status"] == "final"
    assert report["code"]["coding"][0] == {
        "system": "http://loinc.org", "code": "25045-6", "display": "CT unspecified body region"}
    urls = [e["fullUrl"] for e in bundle["entry"][1:]]
    assert [r["reference"] for r in report["result"]] == urls
    assert len(urls) == len(study.document["lesions"])


def test_observation_values_equal_result_json(study, bundle):
    observations = [e["resource"] for e in bundle["entry"][1:]]
    for row, obs in zip(study.document["lesions"], observations, strict=True):
        assert obs["identifier"][0]["value"] == str(row["id"])
        values, patterns = {}, []
        for component in obs["component"]:
            key = next(c["code"] for c in component["code"]["coding"]
                       if c["system"] == PRIVATE_SYSTEM)
            if key == "pattern":
                patterns.append(component["valueCodeableConcept"]["text"])
                continue
            quantity = component["valueQuantity"]
            assert quantity["system"] == "http://unitsofmeasure.org"
            assert quantity["code"] == UNITS[key]
            values[key] = quantity["value"]
        assert values == {key: row[key] for key in UNITS}  # exact: JSON numbers both sides
        assert patterns == [p["pattern"] for p in row["pattern"]]


def test_conclusion_states_the_top_differential_of_each_group(study, bundle):
    conclusion = bundle["entry"][0]["resource"]["conclusion"]
    groups = study.document["groups"]
    assert groups
    for group in groups:
        ranked = group["differential"]["differential"]
        if ranked:
            assert f"Group {group['id']} " in conclusion
            assert ranked[0]["name"] in conclusion
    assert conclusion.endswith("Not for clinical use.")


def test_no_patient_identifiers(bundle):
    text = json.dumps(bundle)
    for resource in (e["resource"] for e in bundle["entry"]):
        assert "subject" not in resource and "patient" not in resource
    for marker in ("CALCDX^PHANTOM", "CALCDX-PHANTOM", "19000101", '"Patient"'):
        assert marker not in text


def test_bundle_is_deterministic_and_checked(study):
    assert fhir_bundle(study.document) == fhir_bundle(study.document)
    with pytest.raises(InputError, match="no 'lesions' list"):
        fhir_bundle({"format": "calcdx-analysis/1"})


def test_empty_study_and_plain_result_document(study):
    empty = {**study.document, "lesions": [], "groups": [], "differential": {}}
    only = fhir_bundle(empty)
    assert len(only["entry"]) == 1
    assert only["entry"][0]["resource"]["conclusion"].startswith("No soft-tissue calcification")
    plain = {**study.document, "groups": [], "differential": study.document["groups"][0][
        "differential"]}
    top = plain["differential"]["differential"][0]["name"]
    assert f"Most likely {top}" in fhir_bundle(plain)["entry"][0]["resource"]["conclusion"]
