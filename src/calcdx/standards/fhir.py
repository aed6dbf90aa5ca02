"""``result.json`` as a FHIR R4 Bundle: a DiagnosticReport and one Observation per lesion.

The shape follows the HL7 DICOM SR to FHIR mapping (derived imaging
measurements): each lesion is an ``imaging`` Observation coded with its matrix
(SNOMED CT *pathologic calcification* or *Ossification*), whose components hold
volume, mean and peak HU, Agatston-style score and mass score as UCUM
quantities, and its patterns as coded values. Each component carries the
standard code and a private ``urn:calcdx:codes`` code named after the
``result.json`` field, so consumers can tell mean from peak HU. The
DiagnosticReport (LOINC 25045-6 *CT unspecified body region*, radiology) lists
the Observations and states the top differential of each lesion group in its
conclusion.

Nothing identifies the patient: there is no ``subject`` and no study date.
Resource ids are UUIDs derived from the document, so the same ``result.json``
always gives the same bundle. The bundle is validated with the ``fhir.resources``
R4B models (FHIR 4.3, the R4 line); every element used here is unchanged from R4.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from calcdx.errors import InputError
from calcdx.standards.codes import (
    FHIR_SYSTEMS,
    MEASUREMENTS,
    PATTERN_NAME,
    PRIVATE_SYSTEM,
    mass_unit,
    matrix_code,
    pattern_code,
)

__all__ = ["LESION_ID_SYSTEM", "conclusion_text", "fhir_bundle", "write_fhir"]

#: Identifier system of a lesion's Observation (value: the lesion id in result.json).
LESION_ID_SYSTEM = "urn:calcdx:lesion-id"

_UCUM = FHIR_SYSTEMS["UCUM"]
#: FHIR has no derivation modifier, so mean HU uses DCM 112181 Mean Attenuation Coefficient.
_FHIR_NAME = {"mean_hu": codes.DCM.MeanAttenuationCoefficient}
_UNIT_TEXT = {"mm3": "mm3", "[hnsf'U]": "HU", "1": "1", "mg": "mg", "[hnsf'U].cm3": "HU.cm3"}


def _coding(code: Code) -> dict[str, str]:
    system = FHIR_SYSTEMS.get(code.scheme_designator)
    if system is None:
        raise InputError(f"no FHIR system known for coding scheme {code.scheme_designator}")
    return {"system": system, "code": str(code.value), "display": str(code.meaning)}


def _private(key: str, display: str) -> dict[str, str]:
    return {"system": PRIVATE_SYSTEM, "code": key, "display": display}


def _component(key: str, value: float, unit: Code) -> dict[str, Any]:
    spec = next(m for m in MEASUREMENTS if m.key == key)
    name = _FHIR_NAME.get(key, spec.name)
    return {
        "code": {
            "coding": [_coding(name), _private(key, spec.display)],
            "text": spec.display,
        },
        "valueQuantity": {
            "value": value,
            "unit": _UNIT_TEXT.get(str(unit.value), str(unit.value)),
            "system": _UCUM,
            "code": str(unit.value),
        },
    }


def _observation(lesion: Mapping[str, Any], mass_text: str | None) -> dict[str, Any]:
    lesion_id = int(lesion["id"])
    matrix = str(lesion.get("matrix") or "calcification")
    components: list[dict[str, Any]] = []
    for spec in MEASUREMENTS:
        value = lesion.get(spec.key)
        if value is None:
            continue
        unit = spec.unit if spec.unit is not None else mass_unit(mass_text)
        components.append(_component(spec.key, float(value), unit))
    for call in lesion.get("pattern") or []:
        pattern = str(call["pattern"] if isinstance(call, Mapping) else call)
        components.append({
            "code": {
                "coding": [_coding(PATTERN_NAME), _private("pattern", "Pattern")],
                "text": "Pattern",
            },
            "valueCodeableConcept": {
                "coding": [_coding(pattern_code(pattern))],
                "text": pattern,
            },
        })
    observation: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "identifier": [{"system": LESION_ID_SYSTEM, "value": str(lesion_id)}],
        "category": [{
            "coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                "code": "imaging",
                "display": "Imaging",
            }]
        }],
        "code": {
            "coding": [_coding(matrix_code(matrix))],
            "text": f"Lesion {lesion_id}: soft-tissue {matrix}",
        },
        "method": {"text": "calcdx automated CT analysis (HU threshold, 3-D connected components)"},
        "component": components,
    }
    location = lesion.get("location")
    if location:
        observation["bodySite"] = {"text": str(location).replace("_", " ")}
    return observation


def _top(differential: Any) -> str | None:
    if not isinstance(differential, Mapping):
        return None
    ranked = differential.get("differential") or []
    if not ranked:
        return None
    best = ranked[0]
    name = best.get("name") or best.get("entity")
    probability = best.get("probability")
    if probability is None:
        return str(name)
    return f"{name} (probability {float(probability):.2f})"


def conclusion_codes(result_doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The top entity of each differential as a CodeableConcept (knowledge-base codes)."""
    from calcdx.kb import load_knowledge_base

    kb = load_knowledge_base()
    tops = [g.get("differential") for g in result_doc.get("groups") or []]
    tops = tops or [result_doc.get("differential")]
    ids = [(t.get("differential") or [{}])[0].get("entity") for t in tops if isinstance(t, Mapping)]
    return [kb.codeable_concept(i) for i in dict.fromkeys(ids) if i in kb.entities]


def conclusion_text(result_doc: Mapping[str, Any]) -> str:
    """The DiagnosticReport conclusion: lesion count, volume and top differential per group.

    Parameters
    ----------
    result_doc : dict
        ``result.json`` content.

    Returns
    -------
    str
    """
    lesions = result_doc.get("lesions") or []
    if not lesions:
        return "No soft-tissue calcification found. Not for clinical use."
    total = sum(float(r.get("volume_mm3") or 0.0) for r in lesions)
    parts = [f"{len(lesions)} soft-tissue calcification lesion(s), total volume {total:.1f} mm3."]
    for group in result_doc.get("groups") or []:
        top = _top(group.get("differential"))
        if top is None:
            continue
        ids = ", ".join(str(i) for i in group.get("lesion_ids") or [])
        parts.append(f"Group {group.get('id')} (lesions {ids}): most likely {top}.")
    if len(parts) == 1:
        top = _top(result_doc.get("differential"))
        if top is not None:
            parts.append(f"Most likely {top}.")
    parts.append("Not for clinical use.")
    return " ".join(parts)


def fhir_bundle(result_doc: Mapping[str, Any]) -> dict[str, Any]:
    """Build the FHIR R4 collection Bundle of a ``result.json`` document.

    Parameters
    ----------
    result_doc : dict
        ``result.json`` content (``lesions``, ``totals``; ``groups`` or
        ``differential`` when the differential was run).

    Returns
    -------
    dict
        JSON-ready Bundle (``type: collection``): the DiagnosticReport first,
        then one Observation per lesion in result order. Validated with the
        ``fhir.resources`` R4B models.

    Raises
    ------
    InputError
        If the document has no ``lesions`` list, or the bundle does not validate.
    """
    lesions = result_doc.get("lesions")
    if not isinstance(lesions, list):
        raise InputError("the result document has no 'lesions' list; give calcdx's result.json")
    digest = hashlib.sha256(
        json.dumps(result_doc, sort_keys=True, default=str).encode("utf-8")
    ).hexdigest()
    namespace = uuid.uuid5(uuid.NAMESPACE_URL, f"urn:calcdx:result:{digest}")
    totals = result_doc.get("totals") or {}
    mass_text = totals.get("mass_unit") if isinstance(totals, Mapping) else None
    entries: list[dict[str, Any]] = []
    for lesion in lesions:
        name = f"lesion/{lesion['id']}"
        url = f"urn:uuid:{uuid.uuid5(namespace, name)}"
        entries.append({"fullUrl": url, "resource": _observation(lesion, mass_text)})
    version = result_doc.get("calcdx_version")
    report: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "status": "final",
        "category": [{
            "coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/v2-0074",
                "code": "RAD",
                "display": "Radiology",
            }]
        }],
        "code": {
            "coding": [_coding(codes.LN.CTUnspecifiedBodyRegion)],
            "text": "CT soft-tissue calcification analysis"
            + (f" (calcdx {version})" if version else " (calcdx)"),
        },
        "result": [{"reference": e["fullUrl"]} for e in entries],
        "conclusion": conclusion_text(result_doc),
    }
    coded = conclusion_codes(result_doc)
    if coded:
        report["conclusionCode"] = coded
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": f"urn:uuid:{uuid.uuid5(namespace, 'report')}", "resource": report},
            *entries,
        ],
    }
    _validate(bundle)
    return bundle


def _validate(bundle: dict[str, Any]) -> None:
    from fhir.resources.R4B.bundle import Bundle

    try:
        Bundle.model_validate(bundle)
    except ValueError as exc:  # pydantic.ValidationError is a ValueError
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"the FHIR bundle does not validate ({reason[:160]})") from exc


def write_fhir(result_doc: Mapping[str, Any], path: str | Path) -> Path:
    """Write the FHIR Bundle of :func:`fhir_bundle` as JSON.

    Returns
    -------
    Path
        The written file.
    """
    out = Path(path)
    out.write_text(json.dumps(fhir_bundle(result_doc), indent=2) + "\n", encoding="utf-8")
    return out
