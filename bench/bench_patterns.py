"""Derived pattern versus planted kind on the project's phantoms, per kind."""

from __future__ import annotations

from calcdx.analysis import analyze_volume
from calcdx.findings.derive import derive_groups
from calcdx.phantom import make_phantom
from calcdx.phantom.evaluate import pattern_agreement


def run() -> list[str]:
    """Measure and return markdown lines."""
    lines = [
        "## Pattern agreement on phantoms (`calcdx analyze` findings)",
        "",
        "Lesion groups derived by `calcdx.findings.derive` on the default phantom "
        "(192 x 192 x 96, 0.8 x 0.8 x 2 mm), seeds 0-2; a group agrees when its derived case "
        "states the pattern expected for the planted kind. Target >= 90 % per kind.",
        "",
        "| Planted kind | Expected pattern | Plain CT | Contrast CT |",
        "|---|---|---|---|",
    ]
    tables = {}
    for contrast in (False, True):
        runs = []
        for seed in (0, 1, 2):
            phantom = make_phantom(contrast=contrast, seed=seed)
            result = analyze_volume(phantom.volume)
            runs.append((phantom, result, derive_groups(result)))
        tables[contrast] = pattern_agreement(runs)
    for kind in sorted(set(tables[False]) | set(tables[True])):
        cells = []
        for contrast in (False, True):
            row = tables[contrast].get(kind)
            cells.append(f"{row.agree}/{row.groups} ({row.rate:.0%})" if row else "-")
        expected = (tables[False].get(kind) or tables[True][kind]).expected
        lines.append(f"| {kind} | {expected} | {cells[0]} | {cells[1]} |")
    return [*lines, ""]
