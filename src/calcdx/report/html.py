"""The self-contained HTML report, rendered from a ``result.json`` document.

:func:`render_report` is pure: it takes the document and the key images (data
URIs from :func:`calcdx.report.images.key_images`) and returns one HTML page
with its CSS inline and no external resources; only the literature references
link out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jinja2

from calcdx.report._format import human, number, percent, reference_link, signed_mm
from calcdx.report.images import MIP_KEY

__all__ = [
    "NOT_FOR_CLINICAL_USE", "PRINT_DETAILED", "PRINT_GROUPS", "TOP_DIAGNOSES", "render_report",
    "report_view",
]

NOT_FOR_CLINICAL_USE = "Not for clinical use"
_NOTICE = (
    "calcdx is research software: it is not a medical device and has not been validated for "
    "diagnosis or treatment decisions. Every finding must be checked on the images by a "
    "qualified radiologist."
)
#: Diagnoses shown per lesion group.
TOP_DIAGNOSES = 5
#: Of those, the ones printed (report.pdf) with their reasons, next steps and references;
#: the others print as name and probability only, so the PDF stays a few pages per group.
PRINT_DETAILED = 3
#: Lesion groups printed in full (report.pdf): the dominant group, then the largest by
#: volume. The others print as one summary row each (group, lesions, volume, findings,
#: leading diagnosis), so a scan with dozens of groups still prints in a few pages;
#: report.html shows every group in full.
PRINT_GROUPS = 6

_LIMITATIONS = (
    "Lesions are found by a fixed HU threshold with connected components; partial volume in "
    "thick slices lowers small or faint calcifications below threshold and merges "
    "neighbours.",
    "Agatston-style scores apply the coronary rule set (Agatston 1990) to soft tissue: they "
    "are reproducible burden numbers, not validated outside the coronary arteries.",
    "Mass is relative (HU x cm^3) unless a calibration factor was given; values from "
    "different scanners or kVp are not comparable.",
    "Patterns, locations and groups are heuristic calls from geometry and density, with the "
    "evidence shown; they were tuned on synthetic phantoms.",
    "The differential is a naive-Bayes ranking over the calcdx knowledge base: it assumes "
    "findings are independent, depends on the clinical context given, and cannot name "
    "entities the knowledge base lacks.",
    "Mineral near metal, inside enhancing vessels or organs, and inside bone is excluded and "
    "not reported.",
)

_GEOMETRY_WARNING_MM = 3.0


def _rows(pairs: list[tuple[str, Any]]) -> list[dict[str, str]]:
    return [{"label": k, "value": v if isinstance(v, str) else human(v)} for k, v in pairs
            if v is not None and v != ""]


def _study(doc: Mapping[str, Any]) -> list[dict[str, str]]:
    inp = doc.get("input", {}) or {}
    meta = inp.get("metadata", {}) or {}
    shape = inp.get("shape") or []
    spacing = inp.get("spacing_mm") or []
    choice = inp.get("series_choice")
    if isinstance(choice, Mapping):
        choice = "; ".join(f"{human(k)}: {human(v)}" for k, v in choice.items())
    return _rows([
        ("Source", meta.get("source")),
        ("Modality", meta.get("modality")),
        ("Scanner", meta.get("manufacturer")),
        ("kVp", number(meta.get("kvp"), 0) if meta.get("kvp") is not None else None),
        ("Kernel", meta.get("convolution_kernel")),
        ("Slice thickness", f"{number(meta.get('slice_thickness_mm'))} mm"
         if meta.get("slice_thickness_mm") is not None else None),
        ("Grid", " x ".join(str(n) for n in shape) + " voxels" if shape else None),
        ("Voxel size", " x ".join(number(s, 2) for s in spacing) + " mm" if spacing else None),
        ("Orientation", inp.get("orientation")),
        ("Series choice", str(choice) if choice else None),
        ("Series UID", meta.get("series_instance_uid")),
        *_patient_rows(doc),
    ])


def _patient_rows(doc: Mapping[str, Any]) -> list[tuple[str, Any]]:
    used = doc.get("patient_context")
    if not isinstance(used, Mapping):
        return []
    age, sex = used.get("age_years"), used.get("sex")
    return [
        ("Patient age", f"{number(age, 0)} y ({used.get('age_source')})" if age is not None
         else "not known (not given, not in the header); age is not used"),
        ("Patient sex", f"{sex} ({used.get('sex_source')})" if sex is not None
         else "not known (not given, not in the header); the differential weighs both "
         "sexes and marks entities of one sex only"),
    ]


def _method(doc: Mapping[str, Any]) -> list[dict[str, str]]:
    rules = doc.get("rules", {}) or {}
    det = rules.get("detection", {}) or {}
    aga = rules.get("agatston", {}) or {}
    wall = rules.get("vessel_wall", {}) or {}
    weights = aga.get("weights") or {}
    calib = aga.get("mass_calibration")
    return _rows([
        ("Threshold", f"HU {det.get('comparison', '>=')} {number(det.get('threshold_hu'), 0)}"
         if det.get("threshold_hu") is not None else None),
        ("Connectivity", f"{det.get('connectivity')}-connected 3-D components"
         + (f" ({det['library']})" if det.get("library") else "")
         if det.get("connectivity") is not None else None),
        ("Smallest lesion", f"{number(det.get('min_volume_mm3'))} mm³"
         if det.get("min_volume_mm3") is not None else None),
        ("Clusters", f"{det.get('cluster_linkage', 'linkage')} within "
         f"{number(det.get('cluster_distance_mm'))} mm"
         if det.get("cluster_distance_mm") is not None else None),
        ("Agatston rule set", aga.get("name")),
        ("Scoring", aga.get("scoring_unit")),
        ("Weights", ", ".join(f"{k} HU: {v}" for k, v in weights.items()) or None),
        ("Minimum area", f"{number(aga.get('min_area_mm2_per_slice'))} mm² per slice"
         if aga.get("min_area_mm2_per_slice") is not None else None),
        ("Thickness", aga.get("thickness_normalisation")),
        ("Mass", f"{aga.get('mass', 'c x mean HU x volume')}; c = {number(calib, 3)}"
         f" ({aga.get('mass_unit', '')})" if calib is not None else aga.get("mass")),
        ("Vessel wall", wall.get("summary")),
    ])


def _warnings(doc: Mapping[str, Any]) -> list[str]:
    found: list[str] = [str(w) for w in doc.get("warnings", []) or []]
    meta = (doc.get("input", {}) or {}).get("metadata", {}) or {}
    found += [str(w) for w in meta.get("warnings", []) or [] if str(w) not in found]
    thickness = meta.get("slice_thickness_mm")
    spacing = (doc.get("input", {}) or {}).get("spacing_mm") or []
    thick = thickness if isinstance(thickness, int | float) else (spacing[2] if spacing else None)
    if isinstance(thick, int | float) and thick > _GEOMETRY_WARNING_MM:
        found.append(
            f"Slices are {thick:g} mm thick (> {_GEOMETRY_WARNING_MM:g} mm): small "
            "calcifications may be missed and volumes overestimated by partial volume."
        )
    if not doc.get("lesions"):
        found.append("No calcification above the threshold was found outside bone.")
    return found


def _contrast(doc: Mapping[str, Any]) -> dict[str, str]:
    c = doc.get("contrast", {}) or {}
    if not c:
        return {"status": "not assessed", "evidence": "", "rule": ""}
    status = "contrast-enhanced" if c.get("enhanced") else "no enhancement detected"
    phase = (c.get("phase") or {}).get("phase")
    if phase:
        status = {"native": "no enhancement detected (native)",
                  "arterial": "contrast-enhanced, arterial phase",
                  "portal_venous": "contrast-enhanced, portal venous phase",
                  "enhanced_unknown": "contrast-enhanced, phase not measurable"}.get(phase, status)
    if c.get("enhanced") and c.get("lumen_median_hu") is not None:
        status += f" (lumen median {number(c['lumen_median_hu'], 0)} HU)"
    return {"status": status, "evidence": str(c.get("evidence", "")),
            "rule": str(c.get("plaque_rule", "")) if c.get("enhanced") else ""}


def _foreign(doc: Mapping[str, Any]) -> list[dict[str, str]]:
    out = []
    for m in doc.get("foreign_material", []) or []:
        centre = m.get("centroid_mm") or [None] * 3
        out.append({
            "kind": human(m.get("matrix", "foreign_material")),
            "volume": number(m.get("volume_mm3")),
            "peak": number(m.get("peak_hu"), 0),
            "centre": " / ".join(signed_mm(v) for v in centre),
        })
    return out


def _excluded(doc: Mapping[str, Any]) -> dict[str, str]:
    found = (doc.get("masks", {}) or {}).get("excluded", {}) or {}
    out = {}
    for key, value in found.items():
        integral = isinstance(value, int | float) and float(value).is_integer()
        out[human(key).replace(" mm3", " (mm³)")] = number(value, 0 if integral else 1)
    return out


def _group_of(doc: Mapping[str, Any]) -> dict[int, str]:
    owner: dict[int, str] = {}
    for c in doc.get("clusters", []) or []:
        for lid in c.get("lesion_ids", []):
            owner[int(lid)] = f"C{c.get('id')}"
    for g in doc.get("groups", []) or []:
        for lid in g.get("lesion_ids", []):
            owner[int(lid)] = str(g.get("id"))
    return owner


def _pattern_text(calls: Any) -> str:
    if not calls:
        return "—"
    parts = []
    for call in calls:
        text = human(call.get("pattern"))
        if call.get("confidence") == "low":
            text += " (low)"
        parts.append(text)
    return ", ".join(parts)


def _location_text(les: Mapping[str, Any]) -> str:
    """Location, with the anatomical structure the lesion lies in or touches (``--anatomy``)."""
    text = human(les.get("location"))
    hit = les.get("anatomy")
    if isinstance(hit, Mapping) and hit.get("structure"):
        how = "in" if (hit.get("inside_fraction") or 0) > 0 else "touching"
        text = f"{text} ({how} {human(hit['structure'])})"
    return text


def _burden(doc: Mapping[str, Any]) -> list[dict[str, str]]:
    owner = _group_of(doc)
    rows = []
    for les in doc.get("lesions", []) or []:
        shape = les.get("shape", {}) or {}
        axes = shape.get("principal_axes_mm") or []
        size = shape.get("max_extent_mm")
        if size is None and axes:
            size = axes[0]
        lid = int(les.get("id"))
        rows.append({
            "id": str(lid),
            "group": owner.get(lid, "—"),
            "location": _location_text(les),
            "region": human(les.get("region")),
            "size": number(size),
            "axes": " x ".join(number(a) for a in axes) + " mm" if axes else "",
            "volume": number(les.get("volume_mm3")),
            "mean_hu": number(les.get("mean_hu"), 0),
            "peak_hu": number(les.get("peak_hu"), 0),
            "agatston": number(les.get("agatston")),
            "mass": number(les.get("mass")),
            "matrix": human(les.get("matrix")),
            "pattern": _pattern_text(les.get("pattern")),
            "evidence": "; ".join(str(c.get("evidence", "")) for c in les.get("pattern", []) or []),
        })
    return rows


def _totals(doc: Mapping[str, Any]) -> dict[str, str]:
    t = doc.get("totals", {}) or {}
    return {
        "n_lesions": str(t.get("n_lesions", len(doc.get("lesions", []) or []))),
        "n_clusters": str(t.get("n_clusters", len(doc.get("clusters", []) or []))),
        "volume": number(t.get("volume_mm3")),
        "agatston": number(t.get("agatston")),
        "mass": number(t.get("mass")),
        "mass_unit": str(t.get("mass_unit", "")),
    }


def _image_key(group: Mapping[str, Any], images: Mapping[str, str]) -> str | None:
    """The image of a group: by its id, else by its cluster or single lesion."""
    gid = str(group.get("id"))
    if gid in images:
        return gid
    ids = list(group.get("lesion_ids", []))
    if group.get("cluster_id") is not None and f"C{group['cluster_id']}" in images:
        return f"C{group['cluster_id']}"
    if len(ids) == 1 and f"L{ids[0]}" in images:
        return f"L{ids[0]}"
    return None


def _case_rows(case: Mapping[str, Any]) -> list[dict[str, str]]:
    patient = case.get("patient", {}) or {}
    imaging = case.get("imaging", {}) or {}
    pairs: list[tuple[str, Any]] = []
    if patient:
        pairs.append(("Patient", ", ".join(f"{human(k)} {human(v)}" for k, v in patient.items())))
    pairs.append(("Clinical", case.get("clinical") or None))
    pairs.append(("Clinical, absent", case.get("clinical_absent") or None))
    labs = case.get("labs") or {}
    if labs:
        pairs.append(("Labs", ", ".join(f"{human(k)} {human(v)}" for k, v in labs.items())))
    pairs += [(human(k).capitalize(), v) for k, v in imaging.items() if v not in (None, [], "")]
    return _rows(pairs)


def _derivation(derivation: Mapping[str, Any]) -> list[dict[str, str]]:
    rows = []
    for name, item in derivation.items():
        item = item or {}
        conf = item.get("confidence")
        rows.append({
            "field": human(name),
            "value": human(item.get("value")),
            "confidence": percent(conf, 0) if conf is not None else "—",
            "low": "low" if isinstance(conf, int | float) and conf < 0.5 else "",
            "evidence": str(item.get("evidence", "")),
        })
    return rows


def _diagnoses(differential: Mapping[str, Any]) -> list[dict[str, Any]]:
    items = []
    for rank, item in enumerate((differential.get("differential") or [])[:TOP_DIAGNOSES], 1):
        p = item.get("probability")
        width = max(0.0, min(100.0, 100.0 * float(p))) if isinstance(p, int | float) else 0.0
        items.append({
            "rank": rank,
            "name": str(item.get("name") or human(item.get("entity"))),
            "entity": str(item.get("entity", "")),
            "probability": percent(p),
            "bar": f"{width:.1f}",
            "supports": [str(s) for s in item.get("supports", []) or []],
            "against": [str(s) for s in item.get("against", []) or []],
            "red_flags": [str(s) for s in item.get("red_flags", []) or []],
            "sex_note": str(item.get("sex_note") or ""),
            "next_steps": [str(s) for s in item.get("next_steps", []) or []],
            "references": [{"text": str(r), "href": reference_link(str(r))}
                           for r in item.get("references", []) or []],
        })
    return items


def _next_findings(differential: Mapping[str, Any]) -> list[dict[str, str]]:
    return [{
        "field": human(f.get("field")),
        "value": human(f.get("value")),
        "bits": number(f.get("information_bits"), 3),
        "why": str(f.get("why", "")),
    } for f in differential.get("next_findings", []) or []]


def _summary(case: Mapping[str, Any]) -> str:
    imaging = case.get("imaging", {}) or {}
    parts = [human(imaging.get(k)) for k in ("region", "location", "matrix", "pattern",
                                              "arrangement", "extent")
             if imaging.get(k) not in (None, [], "")]
    if imaging.get("size_mm") is not None:
        parts.append(f"{number(imaging['size_mm'], 0)} mm")
    return ", ".join(parts)


def _group_view(group: Mapping[str, Any], images: Mapping[str, str],
                dominant: bool) -> dict[str, Any]:
    differential = group.get("differential", {}) or {}
    case = group.get("case", {}) or {}
    key = _image_key(group, images)
    return {
        "id": str(group.get("id")),
        "lesion_ids": [str(i) for i in group.get("lesion_ids", [])],
        "cluster": f"C{group['cluster_id']}" if group.get("cluster_id") is not None else "",
        "volume": number(group.get("volume_mm3")) if group.get("volume_mm3") is not None else "",
        "summary": _summary(case),
        "dominant": dominant,
        "image": images.get(key) if key else None,
        "image_key": key,
        "caption": _slice_caption([str(i) for i in group.get("lesion_ids", [])]),
        "case": _case_rows(case),
        "derivation": _derivation(group.get("derivation", {}) or {}),
        "diagnoses": _diagnoses(differential),
        "next_findings": _next_findings(differential),
        "red_flags": [str(s) for s in differential.get("red_flags", []) or []],
    }


def _mark_printed(groups: list[dict[str, Any]], volumes_mm3: list[float]) -> None:
    """Set each group view's ``printed``: the dominant one, then the largest by volume."""
    order = sorted(range(len(groups)),
                   key=lambda i: (not groups[i]["dominant"], -volumes_mm3[i], i))
    chosen = set(order[:PRINT_GROUPS])
    for i, group in enumerate(groups):
        group["printed"] = i in chosen
        top = group["diagnoses"][0] if group["diagnoses"] else None
        group["leading"] = f"{top['name']} ({top['probability']})" if top else "—"


def _slice_caption(ids: list[str]) -> str:
    label = "lesion" if len(ids) == 1 else "lesions"
    return (f"Axial slice through the group centroid ({label} {', '.join(ids)}) outlined in "
            "yellow; other lesions dashed blue. Patient's right on the image left, anterior up.")


def _key_images(doc: Mapping[str, Any], images: Mapping[str, str],
                groups: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Images not shown with a group's differential: the projection and ungrouped slices."""
    out = []
    if MIP_KEY in images:
        out.append({"key": MIP_KEY, "uri": images[MIP_KEY], "title": "Whole calcified burden",
                    "caption": "Coronal projection of the scan (patient's right on the image "
                               "left, head up) with every detected calcification in orange; "
                               "labels mark the lesion groups."})
    shown = {g["image_key"] for g in groups if g["image_key"]}
    lesions = {int(les["id"]): les for les in doc.get("lesions", []) or []}
    clusters = {f"C{c.get('id')}": c for c in doc.get("clusters", []) or []}
    for key, uri in images.items():
        if key == MIP_KEY or key in shown:
            continue
        if key in clusters:
            ids = [str(i) for i in clusters[key].get("lesion_ids", [])]
            what = _pattern_text(clusters[key].get("pattern")) + " cluster"
        elif key[1:].isdigit() and int(key[1:]) in lesions:
            les = lesions[int(key[1:])]
            ids = [key[1:]]
            what = f"{human(les.get('location'))}, {_pattern_text(les.get('pattern'))}"
        else:
            ids, what = [], "lesion group"
        out.append({"key": key, "uri": uri, "title": f"{key}: {what}",
                    "caption": _slice_caption(ids)})
    return out


def report_view(doc: Mapping[str, Any], images: Mapping[str, str]) -> dict[str, Any]:
    """Turn a ``result.json`` document into the values the template shows.

    Parameters
    ----------
    doc : mapping
        The ``result.json`` document (``groups``, ``case``, ``differential`` and
        ``warnings`` optional).
    images : mapping of str to str
        Key images as data URIs, by group id and :data:`MIP_KEY`.

    Returns
    -------
    dict
        Template context; every value is a plain string, list or dict.
    """
    raw_groups = list(doc.get("groups", []) or [])
    dominant_case = doc.get("case") or None
    dominant_index = next((i for i, g in enumerate(raw_groups) if dominant_case
                           and g.get("case") == dominant_case), 0)
    groups = [_group_view(g, images, i == dominant_index) for i, g in enumerate(raw_groups)]
    _mark_printed(groups, [float(g.get("volume_mm3") or 0.0) for g in raw_groups])
    study_differential = None
    if not groups and doc.get("differential"):
        study_differential = _group_view(
            {"id": "Study", "case": doc.get("case") or {},
             "differential": doc["differential"]}, {}, True)
        study_differential["printed"] = True
    return {
        "notice_title": NOT_FOR_CLINICAL_USE,
        "notice": _NOTICE,
        "version": str(doc.get("calcdx_version", "")),
        "format": str(doc.get("format", "")),
        "study": _study(doc),
        "method": _method(doc),
        "method_references": [str(r) for r in
                              ((doc.get("rules", {}) or {}).get("agatston", {}) or {})
                              .get("references", []) or []],
        "warnings": _warnings(doc),
        "contrast": _contrast(doc),
        "foreign": _foreign(doc),
        "masks_excluded": _excluded(doc),
        "burden": _burden(doc),
        "totals": _totals(doc),
        "images": _key_images(doc, images, groups),
        "groups": groups,
        "groups_summarised": [g for g in groups if not g["printed"]],
        "study_differential": study_differential,
        "limitations": list(_LIMITATIONS),
    }


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("calcdx.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.globals["PRINT_DETAILED"] = PRINT_DETAILED
    environment.globals["PRINT_GROUPS"] = PRINT_GROUPS
    return environment


def render_report(result_doc: Mapping[str, Any], images: Mapping[str, str]) -> str:
    """Render the self-contained HTML report.

    Parameters
    ----------
    result_doc : mapping
        The ``result.json`` document (:func:`calcdx.output.result_document`,
        optionally with ``groups``, ``case``, ``differential`` and ``warnings``).
    images : mapping of str to str
        Key images as ``data:`` URIs (:func:`calcdx.report.images.key_images`);
        may be empty.

    Returns
    -------
    str
        One HTML page: CSS inline, images embedded, no scripts, no external
        resources (reference links only).
    """
    template = _environment().get_template("report.html.j2")
    return template.render(**report_view(result_doc, images))
