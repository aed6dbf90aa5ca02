"""Cohort results as Parquet tables, and a DuckDB connection over them.

Four tables in ``DIR/tables/``, rebuilt from the study folders after every run (the folders
are the truth; the tables are a view of them):

``studies.parquet`` — one row per manifest study
    study_id, subject, timepoint, order, path, status (``done``/``failed``/``pending``),
    error, n_lesions, n_groups, volume_mm3, agatston, mass, mass_unit, contrast,
    region, leading_entity, leading_probability, seconds, worker_peak_rss_mb, calcdx_version.
``lesions.parquet`` — one row per lesion
    study_id, subject, timepoint, order, lesion_id, group_id, volume_mm3, mean_hu, peak_hu,
    agatston, mass, centroid_x_mm, centroid_y_mm, centroid_z_mm (patient RAS), origin,
    matrix, location, region.
``groups.parquet`` — one row per lesion group (the unit the differential is ranked for)
    study_id, subject, timepoint, order, group_id, n_lesions, volume_mm3, region, location,
    matrix, leading_entity, leading_probability, second_entity, second_probability.
``changes.parquet`` — one row per lesion change between consecutive timepoints
    subject, baseline, followup, status (new/grown/shrunk/resolved/stable),
    baseline_lesion_id, followup_lesion_id, baseline_volume_mm3, followup_volume_mm3,
    volume_change_pct, baseline_mean_hu, followup_mean_hu, mean_hu_change, rim_hu_change.

Load in one line::

    con = calcdx.cohort.connect("DIR")       # DuckDB, one view per table
    con.execute("SELECT subject, sum(volume_mm3) FROM lesions GROUP BY subject").fetchall()
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from calcdx.cohort.manifest import CohortStudy
from calcdx.cohort.store import read_json
from calcdx.errors import InputError

__all__ = ["SCHEMAS", "connect", "write_tables"]

_KEYS = [("study_id", pa.string()), ("subject", pa.string()), ("timepoint", pa.string()),
         ("order", pa.int32())]
#: Arrow schema of each table.
SCHEMAS: dict[str, pa.Schema] = {
    "studies": pa.schema([*_KEYS,
        ("path", pa.string()), ("status", pa.string()), ("error", pa.string()),
        ("n_lesions", pa.int32()), ("n_groups", pa.int32()), ("volume_mm3", pa.float64()),
        ("agatston", pa.float64()), ("mass", pa.float64()), ("mass_unit", pa.string()),
        ("contrast", pa.string()), ("region", pa.string()), ("leading_entity", pa.string()),
        ("leading_probability", pa.float64()), ("seconds", pa.float64()),
        ("worker_peak_rss_mb", pa.float64()), ("calcdx_version", pa.string()),
    ]),
    "lesions": pa.schema([*_KEYS,
        ("lesion_id", pa.int32()), ("group_id", pa.string()), ("volume_mm3", pa.float64()),
        ("mean_hu", pa.float64()), ("peak_hu", pa.float64()), ("agatston", pa.float64()),
        ("mass", pa.float64()), ("centroid_x_mm", pa.float64()),
        ("centroid_y_mm", pa.float64()), ("centroid_z_mm", pa.float64()),
        ("origin", pa.string()), ("matrix", pa.string()), ("location", pa.string()),
        ("region", pa.string()),
    ]),
    "groups": pa.schema([*_KEYS,
        ("group_id", pa.string()), ("n_lesions", pa.int32()), ("volume_mm3", pa.float64()),
        ("region", pa.string()), ("location", pa.string()), ("matrix", pa.string()),
        ("leading_entity", pa.string()), ("leading_probability", pa.float64()),
        ("second_entity", pa.string()), ("second_probability", pa.float64()),
    ]),
    "changes": pa.schema([
        ("subject", pa.string()), ("baseline", pa.string()), ("followup", pa.string()),
        ("status", pa.string()), ("baseline_lesion_id", pa.int32()),
        ("followup_lesion_id", pa.int32()), ("baseline_volume_mm3", pa.float64()),
        ("followup_volume_mm3", pa.float64()), ("volume_change_pct", pa.float64()),
        ("baseline_mean_hu", pa.float64()), ("followup_mean_hu", pa.float64()),
        ("mean_hu_change", pa.float64()), ("rim_hu_change", pa.float64()),
    ]),
}


def _ranked(group: dict[str, Any], index: int) -> tuple[str | None, float | None]:
    items = (group.get("differential") or {}).get("differential") or []
    if len(items) <= index:
        return None, None
    return items[index].get("entity"), items[index].get("probability")


def _contrast(doc: dict[str, Any]) -> str | None:
    contrast = doc.get("contrast") or {}
    if contrast.get("phase"):
        return str(contrast["phase"])
    if "enhanced" in contrast:
        return "enhanced" if contrast["enhanced"] else "native"
    return None


def _study_rows(
    study: CohortStudy, record: dict[str, Any] | None, doc: dict[str, Any] | None
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    keys = {"study_id": study.study_id, "subject": study.subject,
            "timepoint": study.timepoint, "order": study.order}
    row: dict[str, Any] = keys | {"path": str(study.path), "status": "pending"}
    if record is not None:
        row |= {"status": record.get("status"), "error": record.get("error"),
                "seconds": record.get("seconds"),
                "worker_peak_rss_mb": record.get("worker_peak_rss_mb")}
    if doc is None or row["status"] != "done":
        return row, [], []
    groups = doc.get("groups") or []
    group_of = {lid: g["id"] for g in groups for lid in g.get("lesion_ids", [])}
    totals = doc.get("totals") or {}
    lead, lead_p = _ranked(groups[0], 0) if groups else (None, None)
    row |= {
        "n_lesions": totals.get("n_lesions"), "n_groups": len(groups),
        "volume_mm3": totals.get("volume_mm3"), "agatston": totals.get("agatston"),
        "mass": totals.get("mass"), "mass_unit": totals.get("mass_unit"),
        "contrast": _contrast(doc), "region": (doc.get("case") or {}).get("imaging", {})
        .get("region"), "leading_entity": lead, "leading_probability": lead_p,
        "calcdx_version": doc.get("calcdx_version"),
    }
    lesions = [
        keys | {
            "lesion_id": lesion["id"], "group_id": group_of.get(lesion["id"]),
            "volume_mm3": lesion.get("volume_mm3"), "mean_hu": lesion.get("mean_hu"),
            "peak_hu": lesion.get("peak_hu"), "agatston": lesion.get("agatston"),
            "mass": lesion.get("mass"),
            "centroid_x_mm": lesion["centroid_mm"][0], "centroid_y_mm": lesion["centroid_mm"][1],
            "centroid_z_mm": lesion["centroid_mm"][2], "origin": lesion.get("origin"),
            "matrix": lesion.get("matrix"), "location": lesion.get("location"),
            "region": lesion.get("region"),
        }
        for lesion in doc.get("lesions") or []
    ]
    group_rows = []
    for group in groups:
        imaging = (group.get("case") or {}).get("imaging") or {}
        first, first_p = _ranked(group, 0)
        second, second_p = _ranked(group, 1)
        group_rows.append(keys | {
            "group_id": group["id"], "n_lesions": len(group.get("lesion_ids", [])),
            "volume_mm3": group.get("volume_mm3"), "region": imaging.get("region"),
            "location": imaging.get("location"), "matrix": imaging.get("matrix"),
            "leading_entity": first, "leading_probability": first_p,
            "second_entity": second, "second_probability": second_p,
        })
    return row, lesions, group_rows


def write_tables(
    studies: list[CohortStudy], out_dir: str | Path,
    changes: list[dict[str, Any]] | None = None,
) -> dict[str, Path]:
    """Rebuild the Parquet tables from the study folders of a cohort.

    Parameters
    ----------
    studies : list of CohortStudy
        The manifest's studies (pending ones get a ``pending`` row).
    out_dir : str or Path
        The cohort folder.
    changes : list of dict, optional
        Follow-up change rows (``changes`` schema).

    Returns
    -------
    dict of str to Path
        Table name to file.
    """
    out = Path(out_dir)
    rows: dict[str, list[dict[str, Any]]] = {"studies": [], "lesions": [], "groups": [],
                                             "changes": list(changes or [])}
    for study in studies:
        record = read_json(out / "studies" / study.study_id / "study.json")
        if record is None:
            record = read_json(out / "failed" / f"{study.study_id}.json")
        doc = read_json(out / "studies" / study.study_id / "result.json")
        row, lesions, groups = _study_rows(study, record, doc)
        rows["studies"].append(row)
        rows["lesions"] += lesions
        rows["groups"] += groups
    folder = out / "tables"
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, schema in SCHEMAS.items():
        columns = {f.name: [r.get(f.name) for r in rows[name]] for f in schema}
        table = pa.table(columns, schema=schema)
        files[name] = folder / f"{name}.parquet"
        tmp = folder / f".{name}.parquet.tmp"
        pq.write_table(table, tmp)
        tmp.replace(files[name])
    return files


def connect(cohort_dir: str | Path) -> Any:
    """A DuckDB connection with one view per cohort table (studies, lesions, groups, changes).

    Parameters
    ----------
    cohort_dir : str or Path
        A folder written by ``calcdx cohort``.

    Returns
    -------
    duckdb.DuckDBPyConnection

    Raises
    ------
    InputError
        If the folder holds no tables.
    """
    import duckdb

    folder = Path(cohort_dir) / "tables"
    if not (folder / "studies.parquet").is_file():
        raise InputError(f"{cohort_dir}: no cohort tables here; run `calcdx cohort` first")
    con = duckdb.connect()
    for name in SCHEMAS:
        path = str((folder / f"{name}.parquet").resolve()).replace("'", "''")
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{path}')")
    return con
