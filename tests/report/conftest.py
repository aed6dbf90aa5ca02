"""A small phantom analysed once, with a result.json document holding two groups."""

from dataclasses import dataclass
from typing import Any

import pytest

from calcdx.analysis import AnalysisResult, analyze_volume
from calcdx.case import parse_case
from calcdx.output.writers import result_document
from calcdx.phantom import make_phantom
from calcdx.reasoning import diagnose
from calcdx.volume import Volume


@dataclass(frozen=True)
class Analysed:
    volume: Volume
    result: AnalysisResult
    document: dict[str, Any]  # result.json with "groups", "case", "differential", "warnings"


def _group(gid: str, lesion_ids: list[int], cluster_id: int | None,
           imaging: dict[str, Any]) -> dict[str, Any]:
    case = {
        "format": "calcdx-case/1",
        "id": gid,
        "patient": {"age_years": 19, "sex": "male"},
        "clinical": ["trauma_recent"],
        "imaging": imaging,
    }
    return {
        "id": gid,
        "lesion_ids": lesion_ids,
        "cluster_id": cluster_id,
        "volume_mm3": 100.0,
        "case": case,
        "derivation": {
            key: {"value": value, "confidence": 0.7, "evidence": f"measured {key}"}
            for key, value in imaging.items()
        } | {"arrangement": {"value": "linear", "confidence": 0.3, "evidence": "weak"}},
        "differential": diagnose(parse_case(case)).to_dict(),
    }


@pytest.fixture(scope="session")
def analysed() -> Analysed:
    phantom = make_phantom(shape=(96, 96, 48), spacing_mm=(1.6, 1.6, 4.0))
    volume = phantom.volume
    result = analyze_volume(volume)
    assert result.lesions and result.clusters, "the phantom should give lesions and clusters"
    doc = result_document(result, volume)
    largest = max((les for les in result.lesions if les.cluster_id is None),
                  key=lambda les: les.volume_mm3)
    cluster = result.clusters[0]
    doc["groups"] = [
        _group("G1", [largest.id], None, {
            "modality": "ct", "region": "thigh", "location": "muscle",
            "matrix": "ossification", "pattern": ["zonal_peripheral"], "extent": "solitary",
            "size_mm": 20,
        }),
        _group("G2", list(cluster.lesion_ids), cluster.id, {
            "modality": "ct", "location": "periarticular", "matrix": "calcification",
            "pattern": ["lobulated_chalky"], "extent": "few_regional",
        }),
    ]
    doc["case"] = doc["groups"][0]["case"]
    doc["differential"] = doc["groups"][0]["differential"]
    doc["warnings"] = ["metal present: streaks <checked & escaped>"]
    return Analysed(volume, result, doc)
