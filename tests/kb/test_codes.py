"""Standard codes: only checked ones, carried into FHIR instead of private codes."""

from calcdx.kb import load_knowledge_base
from calcdx.standards.fhir import fhir_bundle


def test_every_entity_is_coded_or_says_why_not():
    kb = load_knowledge_base()
    for entity in kb:
        assert entity.codes or entity.codes_note, entity.id
        for code in entity.codes:
            assert code.source.startswith("https://"), entity.id


def test_codeable_concepts():
    kb = load_knowledge_base()
    coded = kb.codeable_concept("myositis_ossificans")
    assert coded["coding"] == [
        {"system": "http://snomed.info/sct", "code": "44551007", "display": "Myositis ossificans"}
    ]
    assert kb.codeable_concept("phlebolith") == {"text": "Phlebolith"}  # no guessed code


def test_fhir_conclusion_code_uses_the_knowledge_base_code():
    doc = {
        "lesions": [],
        "differential": {"differential": [{"entity": "myositis_ossificans", "probability": 0.8}]},
    }
    report = fhir_bundle(doc)["entry"][0]["resource"]
    (concept,) = report["conclusionCode"]
    assert concept["coding"][0]["system"] == "http://snomed.info/sct"
    assert concept["coding"][0]["code"] == "44551007"
