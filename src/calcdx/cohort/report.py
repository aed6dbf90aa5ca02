"""The cohort report: one self-contained HTML page over the cohort tables.

Burden distribution, burden by region and by leading diagnosis, per-study QC thumbnails
(maximum intensity projection with lesions in red), follow-up changes and failures.
"""

from __future__ import annotations

import base64
import html
import io
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

__all__ = ["write_cohort_report"]


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _bar(values: dict[str, float], title: str, xlabel: str) -> str:
    from matplotlib.figure import Figure

    items = sorted(values.items(), key=lambda kv: -kv[1])[:20]
    fig = Figure(figsize=(6.0, 0.3 * max(len(items), 3) + 0.8), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    if items:
        ax.barh([k for k, _ in items][::-1], [v for _, v in items][::-1], color="#4a7ab5")
    else:
        ax.text(0.5, 0.5, "no lesions", ha="center", va="center", transform=ax.transAxes)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.tick_params(labelsize=7)
    return _png(fig)


def _histogram(values: list[float]) -> str:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.0, 2.6), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    ax.hist(values or [0.0], bins=min(30, max(5, len(values))), color="#4a7ab5")
    ax.set_title("Burden per study (done studies)", fontsize=9)
    ax.set_xlabel("total lesion volume, mm^3", fontsize=8)
    ax.set_ylabel("studies", fontsize=8)
    ax.tick_params(labelsize=7)
    return _png(fig)


def _rows(path: Path) -> list[dict[str, Any]]:
    return list(pq.read_table(path).to_pylist()) if path.is_file() else []


def write_cohort_report(cohort_dir: str | Path) -> Path:
    """Write ``cohort_report.html`` from a cohort folder's tables.

    Parameters
    ----------
    cohort_dir : str or Path
        A folder written by :func:`calcdx.cohort.run.run_cohort` and
        :func:`calcdx.cohort.tables.write_tables`.

    Returns
    -------
    Path
        The report file.
    """
    out = Path(cohort_dir)
    tables = out / "tables"
    studies = _rows(tables / "studies.parquet")
    lesions = _rows(tables / "lesions.parquet")
    groups = _rows(tables / "groups.parquet")
    changes = _rows(tables / "changes.parquet")
    esc = html.escape
    done = [s for s in studies if s["status"] == "done"]
    failed = [s for s in studies if s["status"] == "failed"]
    by_region: dict[str, float] = defaultdict(float)
    for lesion in lesions:
        by_region[lesion["region"] or "region not derived"] += lesion["volume_mm3"] or 0.0
    by_dx: dict[str, float] = defaultdict(float)
    for group in groups:
        by_dx[group["leading_entity"] or "none"] += group["volume_mm3"] or 0.0
    thumbs = []
    for study in studies:
        qc = out / "studies" / study["study_id"] / "qc.png"
        picture = ""
        if qc.is_file():
            data = base64.b64encode(qc.read_bytes()).decode("ascii")
            picture = f"<img src='data:image/png;base64,{data}' alt='QC {esc(study['study_id'])}'>"
        volume = study["volume_mm3"]
        caption = (f"{esc(study['study_id'])}: {esc(study['status'])}"
                   + (f", {study['n_lesions']} lesions, {volume:.0f} mm<sup>3</sup>"
                      if volume is not None else ""))
        thumbs.append(f"<figure class='qc {esc(study['status'])}'>{picture}"
                      f"<figcaption>{caption}</figcaption></figure>")
    failures = "".join(
        f"<tr><td>{esc(s['study_id'])}</td><td>{esc(s['path'])}</td>"
        f"<td>{esc(s['error'] or '')}</td></tr>" for s in failed) or \
        "<tr><td colspan=3>none</td></tr>"
    counts: dict[tuple[str, str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for change in changes:
        counts[(change["subject"], change["baseline"], change["followup"])][change["status"]] += 1
    statuses = ("new", "grown", "shrunk", "resolved", "stable", "indeterminate")
    change_rows = "".join(
        f"<tr><td>{esc(s)}</td><td>{esc(a)}</td><td>{esc(b)}</td>"
        + "".join(f"<td>{c.get(k, 0)}</td>" for k in statuses) + "</tr>"
        for (s, a, b), c in sorted(counts.items())) or \
        f"<tr><td colspan={3 + len(statuses)}>no subject with two analysed timepoints</td></tr>"
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>calcdx cohort report</title>
<style>body{{font-family:sans-serif;max-width:75em;margin:1em auto}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 6px;font-size:90%}}
figure.qc{{display:inline-block;margin:4px;width:180px;font-size:75%}}
figure.qc img{{width:176px}}figure.failed figcaption{{color:#b00}}</style></head><body>
<h1>Cohort report</h1>
<p id="summary">{len(studies)} studies: {len(done)} analysed, {len(failed)} failed,
{len(studies) - len(done) - len(failed)} pending; {len(lesions)} lesions in
{len(groups)} lesion groups. Not a medical device; not for clinical use.</p>
<p>Tables: <code>tables/studies.parquet</code>, <code>lesions.parquet</code>,
<code>groups.parquet</code>, <code>changes.parquet</code>
(<code>calcdx.cohort.connect(folder)</code> opens them in DuckDB).</p>
<h2>Burden</h2>
<img alt="burden distribution" src="{_histogram([s['volume_mm3'] or 0.0 for s in done])}">
<img alt="burden by region" src="{_bar(by_region, 'Burden by region', 'lesion volume, mm^3')}">
<img alt="burden by leading diagnosis"
 src="{_bar(by_dx, 'Burden by leading diagnosis of each lesion group', 'volume, mm^3')}">
<h2>Follow-up</h2>
<table id="changes"><tr><th>subject</th><th>baseline</th><th>follow-up</th>
{''.join(f'<th>{k}</th>' for k in statuses)}</tr>{change_rows}</table>
<h2>Failures</h2>
<table id="failures"><tr><th>study</th><th>input</th><th>error</th></tr>{failures}</table>
<h2>Quality control</h2>
<p>Maximum intensity projection of each study (window -200 to 1000 HU) with its reported
lesions in red: the skeleton must not be red.</p>
{''.join(thumbs)}
</body></html>"""
    path = out / "cohort_report.html"
    tmp = out / ".cohort_report.html.tmp"
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path
