"""Codes and units shared by the DICOM SEG, DICOM SR and FHIR writers.

Standard codes come from pydicom's code dictionary (DICOM PS3.16), so none is
invented here. A value with no standard code gets a private code in the coding
scheme :data:`PRIVATE_SCHEME` (``99CALCDX``; DICOM reserves the ``99`` prefix
for local schemes), whose code value is the calcdx vocabulary value itself
(e.g. ``zonal_peripheral``). FHIR uses the same private values under the URI
:data:`PRIVATE_SYSTEM`.

Measurements (:data:`MEASUREMENTS`)
    ============  ===========================================  ======================
    key           concept (SR name, modifier)                  unit (UCUM)
    ============  ===========================================  ======================
    volume_mm3    SCT 118565006 Volume                         ``mm3``
    mean_hu       DCM 112031 Attenuation Coefficient, Mean     ``[hnsf'U]``
    peak_hu       DCM 112031 Attenuation Coefficient, Maximum  ``[hnsf'U]``
    agatston      DCM 112058 Calcium score, Agatston method    ``1``
    mass          DCM 122661 Calcium Mass, Mass method         ``mg`` or ``[hnsf'U].cm3``
    ============  ===========================================  ======================

Diagnoses (:func:`entity_code`)
    The knowledge-base entity a lesion's group most likely is: its SNOMED CT
    concept (scheme ``SCT``, FHIR ``http://snomed.info/sct``) when the knowledge
    base carries a checked one meaning the entity itself (``codes`` of the entity
    file, ``match: exact``), else a private
    ``99CALCDX`` code whose value is the entity id. The SR states it as a
    qualitative evaluation named DCM 111023 *Differential Diagnosis/Impression*.

The Agatston-style score is the Agatston rule applied to one soft-tissue lesion
slice by slice; the mass is in mg with a calibration, else the relative mass
mean HU x cm^3 (see :mod:`calcdx.measure.agatston`).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from calcdx.kb.loader import ENTITY_SYSTEM
from calcdx.kb.schema import SNOMED_SYSTEM as SNOMED_CT

__all__ = [
    "ALGORITHM_FAMILY",
    "DIAGNOSIS_NAME",
    "FHIR_SYSTEMS",
    "FINDING_CATEGORY",
    "MEASUREMENTS",
    "PATTERN_NAME",
    "PRIVATE_SCHEME",
    "PRIVATE_SYSTEM",
    "MeasurementCode",
    "entity_code",
    "entity_value",
    "mass_unit",
    "matrix_code",
    "pattern_code",
    "pattern_value",
]

#: DICOM Coding Scheme Designator of calcdx's private codes.
PRIVATE_SCHEME = "99CALCDX"
#: FHIR ``system`` of calcdx's private codes (measurement keys, patterns, matrix, and the
#: entity id of a diagnosis without a SNOMED CT concept); a stable URN, one definition.
PRIVATE_SYSTEM = ENTITY_SYSTEM

#: FHIR system URI of SNOMED CT (the knowledge base's ``Code.system``).
SNOMED_SYSTEM = SNOMED_CT

#: DICOM coding scheme designator to FHIR system URI (HL7 terminology).
FHIR_SYSTEMS = {
    "SCT": SNOMED_SYSTEM,
    "DCM": "http://dicom.nema.org/resources/ontology/DCM",
    "LN": "http://loinc.org",
    "UCUM": "http://unitsofmeasure.org",
    PRIVATE_SCHEME: PRIVATE_SYSTEM,
}

#: Segmented property category of every lesion (CID 7150).
FINDING_CATEGORY: Code = codes.SCT.MorphologicallyAbnormalStructure
#: Algorithm family of the segmentation (CID 7162): HU threshold then 26-connected
#: components, i.e. DCM 123101 "Neighborhood Analysis".
ALGORITHM_FAMILY: Code = codes.DCM.NeighborhoodAnalysis

_MATRIX = {
    "calcification": codes.SCT.PathologicCalcification,  # 18115005
    "ossification": codes.SCT.Ossification,  # 83323007
}

#: Patterns with a standard SNOMED CT code (radiographic calcification findings).
_PATTERN = {
    "punctate": codes.SCT.PunctateCalcification,  # 129755006
    "lucent_centre_round": codes.SCT.LucentCenteredCalcification,  # 129754005
    "eggshell_rim": codes.SCT.EggshellCalcification,  # 129751002
    "amorphous_cloudy": codes.SCT.AmorphousCalcification,  # 129760005
    "popcorn": codes.SCT.CoarsePopcornLikeCalcification,  # 129749001
}
_PATTERN_BY_CODE = {(c.scheme_designator, c.value): k for k, c in _PATTERN.items()}

#: Concept name of the pattern qualitative evaluation: DCM 111009 Calcification Type.
PATTERN_NAME: Code = codes.DCM.CalcificationType


#: Concept name of the diagnosis evaluation: DCM 111023 Differential Diagnosis/Impression.
DIAGNOSIS_NAME: Code = codes.DCM.DifferentialDiagnosisImpression

#: Longest DICOM Code Meaning (VR LO).
_MEANING_MAX = 64


def _label(value: str) -> str:
    return value.replace("_", " ").capitalize()


def matrix_code(matrix: str) -> Code:
    """Code of a lesion's matrix (segmented property type and SR finding type).

    Parameters
    ----------
    matrix : str
        ``calcification``, ``ossification`` or another case-format matrix value.

    Returns
    -------
    Code
        SCT 18115005 *pathologic calcification*, SCT 83323007 *Ossification*,
        else a private ``99CALCDX`` code whose value is ``matrix``.
    """
    return _MATRIX.get(matrix) or Code(matrix, PRIVATE_SCHEME, _label(matrix))


def pattern_code(pattern: str) -> Code:
    """Code of a case-format pattern value (SNOMED CT when one exists, else private)."""
    return _PATTERN.get(pattern) or Code(pattern, PRIVATE_SCHEME, f"{_label(pattern)} pattern")


def pattern_value(scheme: str, value: str) -> str | None:
    """Case-format pattern value of a code written by :func:`pattern_code`.

    Parameters
    ----------
    scheme : str
        Coding scheme designator (``SCT`` or ``99CALCDX``).
    value : str
        Code value.

    Returns
    -------
    str or None
        The pattern, or None for a code calcdx does not write.
    """
    if scheme == PRIVATE_SCHEME:
        return value
    return _PATTERN_BY_CODE.get((scheme, value))


def _meaning(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MEANING_MAX else text[: _MEANING_MAX - 3].rstrip() + "..."


def entity_code(entity_id: str) -> Code:
    """Code of a knowledge-base entity: its SNOMED CT concept, else a private code.

    Parameters
    ----------
    entity_id : str
        Entity id of the knowledge base (e.g. ``myositis_ossificans``).

    Returns
    -------
    Code
        ``SCT`` with the concept id and display of the entity's first SNOMED CT
        code that means the entity (``match: exact``); otherwise, for a broader or
        partial concept or none, ``99CALCDX`` with the
        entity id as value and the entity name as meaning (cut to 64 characters,
        the DICOM limit).

    Raises
    ------
    KeyError
        For an id the knowledge base does not hold.
    """
    from calcdx.kb import load_knowledge_base

    entity = load_knowledge_base()[entity_id]
    for code in entity.codes:
        if code.system == SNOMED_SYSTEM and code.match == "exact":
            return Code(code.code, "SCT", _meaning(code.display))
    return Code(entity_id, PRIVATE_SCHEME, _meaning(entity.name))


def entity_value(scheme: str, value: str) -> str | None:
    """Entity id of a code written by :func:`entity_code` (None if no entity has it).

    Two entities coded with the same (broader) concept give the first in id order.
    """
    from calcdx.kb import load_knowledge_base

    kb = load_knowledge_base()
    if scheme == PRIVATE_SCHEME:
        return value if value in kb.entities else None
    if scheme != "SCT":
        return None
    for entity in sorted(kb, key=lambda e: e.id):
        code = entity_code(entity.id)
        if code.scheme_designator == "SCT" and code.value == value:
            return entity.id
    return None


@dataclass(frozen=True)
class MeasurementCode:
    """How one ``result.json`` lesion measurement is coded.

    Attributes
    ----------
    key : str
        Field of the lesion in ``result.json``.
    name : Code
        Concept name.
    derivation : Code or None
        SR derivation modifier (CID 7464), e.g. Mean or Maximum.
    method : Code or None
        SR measurement method.
    unit : Code or None
        UCUM unit; None when it depends on the study (mass, :func:`mass_unit`).
    display : str
        Human-readable name, used as FHIR ``text``.
    """

    key: str
    name: Code
    derivation: Code | None
    method: Code | None
    unit: Code | None
    display: str


MEASUREMENTS: tuple[MeasurementCode, ...] = (
    MeasurementCode("volume_mm3", codes.SCT.Volume, None, None, codes.UCUM.CubicMillimeter,
                    "Lesion volume"),
    MeasurementCode("mean_hu", codes.DCM.AttenuationCoefficient, codes.SCT.Mean, None,
                    codes.UCUM.HounsfieldUnit, "Mean attenuation (HU)"),
    MeasurementCode("peak_hu", codes.DCM.AttenuationCoefficient, codes.SCT.Maximum, None,
                    codes.UCUM.HounsfieldUnit, "Peak attenuation (HU)"),
    MeasurementCode("agatston", codes.DCM.CalciumScore, None, codes.DCM.AgatstonScoringMethod,
                    codes.UCUM.NoUnits, "Agatston-style score"),
    MeasurementCode("mass", codes.DCM.CalciumMass, None, codes.DCM.MassScoringMethod, None,
                    "Mass score"),
)


def mass_unit(unit_text: str | None) -> Code:
    """UCUM unit of the mass score from ``result.json``'s ``totals.mass_unit``.

    Parameters
    ----------
    unit_text : str or None
        ``"mg hydroxyapatite"`` when calibrated, else the relative mass text.

    Returns
    -------
    Code
        ``mg`` when calibrated, else ``[hnsf'U].cm3`` (mean HU x cm^3).
    """
    if unit_text is not None and unit_text.startswith("mg"):
        return Code("mg", "UCUM", "milligram")
    return Code("[hnsf'U].cm3", "UCUM", "Hounsfield unit x cubic centimeter")
