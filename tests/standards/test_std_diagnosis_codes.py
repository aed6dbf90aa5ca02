"""The diagnosis in FHIR and DICOM SR carries the knowledge base's SNOMED CT code.

The expected codes are read straight from the entity YAML files, not through the
loader or the writers, so a writer that dropped or altered a code would fail here.
"""

import copy
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from calcdx.kb.loader import default_kb_path
from calcdx.standards import fhir_bundle, read_sr_lesions, write_seg, write_sr
from calcdx.standards.codes import PRIVATE_SCHEME, entity_code, entity_value
from calcdx.standards.sr import lesion_diagnoses

SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
DCIODVFY = shutil.which("dciodvfy")


def _yaml_entities() -> dict[str, dict]:
    folder = default_kb_path() / "entities"
    return {p.stem: yaml.safe_load(p.read_text(encoding="utf-8"))
            for p in sorted(folder.glob("*.yaml"))}


ENTITIES = _yaml_entities()
#: entities with a SNOMED CT concept that means the entity itself (not broader or partial)
CODED = sorted(i for i, e in ENTITIES.items()
               if any(c["system"] == SNOMED and c.get("match", "exact") == "exact"
                      for c in e.get("codes") or []))
#: entities whose only SNOMED CT concepts are broader or partial
SNOMED_BROADER = sorted(i for i, e in ENTITIES.items() if i not in CODED
                        and any(c["system"] == SNOMED for c in e.get("codes") or []))
UNCODED = sorted(i for i, e in ENTITIES.items() if not e.get("codes"))
#: entities without a SNOMED CT code: the SR states them with the private code
NO_SNOMED = sorted(set(ENTITIES) - set(CODED))
#: entities coded in ICD-10 only (no SNOMED CT concept could be checked)
ICD10_ONLY = sorted(i for i in NO_SNOMED
                    if any(c["system"] == ICD10 for c in ENTITIES[i].get("codes") or []))


def _snomed(entity_id: str) -> str:
    return next(c["code"] for c in ENTITIES[entity_id]["codes"]
                if c["system"] == SNOMED and c.get("match", "exact") == "exact")


def _with_top(doc: dict, entity_id: str) -> dict:
    """The document with every group's differential led by ``entity_id``."""
    out = copy.deepcopy(doc)
    for group in out["groups"]:
        group["differential"]["differential"].insert(
            0, {"entity": entity_id, "name": ENTITIES[entity_id]["name"], "probability": 0.9})
    return out


def test_there_are_coded_and_uncoded_entities():
    assert CODED and UNCODED and ICD10_ONLY and SNOMED_BROADER, (
        len(CODED), len(UNCODED), len(ICD10_ONLY), len(SNOMED_BROADER))


@pytest.mark.parametrize("entity_id", SNOMED_BROADER)
def test_a_broader_snomed_concept_does_not_stand_for_the_entity(entity_id):
    """FHIR keeps the broader concept beside calcdx's own code; the SR states the own code."""
    doc = {"lesions": [],
           "differential": {"differential": [{"entity": entity_id, "probability": 0.7}]}}
    (concept,) = fhir_bundle(doc)["entry"][0]["resource"]["conclusionCode"]
    assert [(c["system"], c["code"]) for c in concept["coding"]] == (
        [*_kb_codings(entity_id), ("urn:calcdx:codes", entity_id)])
    code = entity_code(entity_id)
    assert (code.scheme_designator, code.value) == (PRIVATE_SCHEME, entity_id)


def _kb_codings(entity_id: str) -> list[tuple[str, str]]:
    return [(c["system"], c["code"]) for c in ENTITIES[entity_id].get("codes") or []]


@pytest.mark.parametrize("entity_id", sorted(set(CODED[:5] + ICD10_ONLY[:5])))
def test_fhir_conclusion_code_carries_every_kb_code(entity_id):
    """SNOMED CT and ICD-10 codings side by side, as the knowledge base gives them."""
    doc = {"lesions": [],
           "differential": {"differential": [{"entity": entity_id, "probability": 0.7}]}}
    (concept,) = fhir_bundle(doc)["entry"][0]["resource"]["conclusionCode"]
    own = [] if entity_id in CODED else [("urn:calcdx:codes", entity_id)]
    assert [(c["system"], c["code"]) for c in concept["coding"]] == _kb_codings(entity_id) + own
    assert concept["text"] == ENTITIES[entity_id]["name"]


@pytest.mark.parametrize("entity_id", CODED)
def test_fhir_conclusion_code_is_the_snomed_code(entity_id):
    doc = {"lesions": [],
           "differential": {"differential": [{"entity": entity_id, "probability": 0.7}]}}
    (concept,) = fhir_bundle(doc)["entry"][0]["resource"]["conclusionCode"]
    assert concept["coding"][0]["system"] == SNOMED
    assert concept["coding"][0]["code"] == _snomed(entity_id)
    assert all(c["system"] != "urn:calcdx:codes" for c in concept["coding"])


@pytest.mark.parametrize("entity_id", UNCODED)
def test_fhir_conclusion_of_an_uncoded_entity_uses_the_private_system(entity_id):
    """No standard code pretends to be the entity: calcdx's own system, the entity id."""
    doc = {"lesions": [],
           "differential": {"differential": [{"entity": entity_id, "probability": 0.7}]}}
    (concept,) = fhir_bundle(doc)["entry"][0]["resource"]["conclusionCode"]
    name = ENTITIES[entity_id]["name"]
    assert concept == {"coding": [{"system": "urn:calcdx:codes", "code": entity_id,
                                   "display": name}], "text": name}


@pytest.mark.parametrize("entity_id", CODED)
def test_sr_entity_code_is_sct_and_reads_back(entity_id):
    code = entity_code(entity_id)
    assert (code.scheme_designator, code.value) == ("SCT", _snomed(entity_id))
    assert len(code.meaning) <= 64
    # entities sharing one (broader) concept read back as one of them
    back = entity_value("SCT", code.value)
    assert back is not None and _snomed(back) == _snomed(entity_id)


def test_sr_entity_code_of_an_uncoded_entity_is_private():
    """Without an exact SNOMED CT code (broader, ICD-10 only or none): the private code."""
    for entity_id in NO_SNOMED:
        code = entity_code(entity_id)
        assert (code.scheme_designator, code.value) == (PRIVATE_SCHEME, entity_id)
        assert len(code.meaning) <= 64
        assert entity_value(PRIVATE_SCHEME, entity_id) == entity_id


def test_lesion_diagnoses_follow_the_groups(study):
    got = lesion_diagnoses(study.document)
    for group in study.document["groups"]:
        top = group["differential"]["differential"][0]["entity"]
        for lesion_id in group["lesion_ids"]:
            assert got[int(lesion_id)] == top


@pytest.fixture(scope="module")
def coded_sr(study, tmp_path_factory):
    out = tmp_path_factory.mktemp("sr-dx")
    seg = write_seg(study.result, study.volume, study.headers, out / "lesions.seg.dcm")
    # the uncoded entity has an ICD-10 code only: the SR states no ICD-10
    coded, uncoded = CODED[0], ICD10_ONLY[0]
    doc = _with_top(study.document, coded)
    # the first group gets an uncoded entity: its lesions keep a private code
    doc["groups"][0]["differential"]["differential"].insert(
        0, {"entity": uncoded, "name": ENTITIES[uncoded]["name"], "probability": 0.95})
    sr = write_sr(study.result, study.volume, seg, study.headers, out / "dx.sr.dcm",
                  document=doc)
    return doc, sr, coded, uncoded


def test_sr_states_each_lesion_diagnosis_with_the_kb_code(coded_sr):
    doc, sr, coded, uncoded = coded_sr
    back = read_sr_lesions(sr)
    first = {int(i) for i in doc["groups"][0]["lesion_ids"]}
    assert set(back) == {int(r["id"]) for r in doc["lesions"]}
    for lesion_id, entry in back.items():
        if lesion_id in first:
            assert entry["diagnosis_code"] == (PRIVATE_SCHEME, uncoded)
            assert entry["diagnosis"] == uncoded
        else:
            assert entry["diagnosis_code"] == ("SCT", _snomed(coded))
    assert len(first) < len(back), "the phantom should give more than one group"


@pytest.mark.skipif(DCIODVFY is None, reason="dciodvfy (Debian dicom3tools) is not installed")
def test_sr_with_diagnoses_passes_dciodvfy(coded_sr):
    run = subprocess.run([DCIODVFY, str(Path(coded_sr[1]))], capture_output=True, text=True,
                         timeout=120, check=False)
    errors = [line for line in (run.stdout + run.stderr).splitlines() if line.startswith("Error")]
    assert errors == []


def test_sr_without_a_differential_has_no_diagnosis(study, tmp_path):
    seg = write_seg(study.result, study.volume, study.headers, tmp_path / "lesions.seg.dcm")
    sr = write_sr(study.result, study.volume, seg, study.headers, tmp_path / "plain.sr.dcm")
    assert all("diagnosis_code" not in e for e in read_sr_lesions(sr).values())
