"""Rich renderings of calcdx results for the terminal."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from calcdx.kb.schema import Entity
from calcdx.reasoning.differential import Differential

if TYPE_CHECKING:
    from calcdx.study import StudyOutcome

__all__ = ["print_differential", "print_entity", "print_study"]


def print_differential(console: Console, differential: Differential, *, top: int = 10) -> None:
    """Print a differential as a ranked table with reasons, red flags and next findings."""
    title = (
        f"Differential for case {differential.case_id}" if differential.case_id else "Differential"
    )
    table = Table(title=title, show_lines=False, expand=False)
    table.add_column("#", justify="right")
    table.add_column("Entity")
    table.add_column("P", justify="right")
    table.add_column("For")
    table.add_column("Against")
    for rank, item in enumerate(differential.ranked[:top], start=1):
        table.add_row(
            str(rank),
            f"{item.name}\n[dim]{item.entity}[/dim]",
            f"{item.probability:.1%}",
            "\n".join(f"{c.label} x{c.likelihood_ratio:.1f}" for c in item.supports[:3]),
            "\n".join(f"{c.label} x{c.likelihood_ratio:.2f}" for c in item.against[:3]),
        )
    console.print(table)
    for flag in differential.red_flags:
        console.print(f"[bold red]RED FLAG[/bold red] {flag}")
    if differential.ranked:
        lead = differential.ranked[0]
        console.print(f"[bold]Next step for {lead.name}:[/bold] {lead.next_steps[0]}")
    if differential.next_findings:
        console.print("[bold]Findings worth checking next:[/bold]")
        for finding in differential.next_findings:
            console.print(f"  {finding.field} = {finding.value}: {finding.why}")


def print_entity(console: Console, entity: Entity) -> None:
    """Print one knowledge-base entry."""
    console.print(f"[bold]{entity.name}[/bold] ({entity.id}) - {entity.mechanism}")
    if entity.synonyms:
        console.print(f"Synonyms: {', '.join(entity.synonyms)}")
    console.print(f"Prior: {entity.prior.tier} ({entity.prior.basis})")
    for field, values in entity.findings.model_dump(exclude_defaults=True).items():
        shown = ", ".join(
            f"{value} ({freq['p'] if isinstance(freq, dict) else freq})"
            for value, freq in values.items()
        )
        console.print(f"  {field}: {shown}")
    for flag in entity.red_flags:
        console.print(f"[red]Red flag:[/red] {flag}")
    for mimic in entity.mimics:
        console.print(f"Mimic {mimic.id}: {mimic.how_to_tell}")
    for step in entity.next_steps:
        console.print(f"Next: {step}")
    for ref in entity.references:
        console.print(f"[dim][{ref.key}] {ref.citation} {ref.doi or ref.url}[/dim]")


def print_study(console: Console, outcome: StudyOutcome) -> None:
    """Print a study summary: burden, groups with their leading diagnoses, output files."""
    doc = outcome.document
    totals = doc["totals"]
    console.print(
        f"[bold]{totals['n_lesions']} lesion(s)[/bold] in {len(outcome.groups)} group(s): "
        f"{totals['volume_mm3']:.0f} mm^3, Agatston-style {totals['agatston']:.0f}, "
        f"mass {totals['mass']:.1f} ({totals['mass_unit']})"
    )
    for warning in doc.get("warnings", []):
        console.print(f"[yellow]warning:[/yellow] {warning}")
    table = Table(title="Lesion groups", expand=False)
    for column in ("Group", "Lesions", "Volume mm^3", "Findings", "Leading diagnoses"):
        table.add_column(column)
    for group, differential in zip(outcome.groups, outcome.differentials, strict=True):
        imaging = group.imaging
        findings = ", ".join(
            str(v) for k, v in imaging.items() if k not in ("modality", "pattern", "arrangement")
        )
        findings = "; ".join(filter(None, [findings, ", ".join(imaging.get("pattern", []))]))
        leading = "\n".join(
            f"{item.name} {item.probability:.0%}" for item in differential.ranked[:3]
        )
        table.add_row(
            group.id,
            ", ".join(map(str, group.lesion_ids)),
            f"{group.volume_mm3:.0f}",
            findings,
            leading,
        )
    console.print(table)
    flagged: dict[str, list[str]] = {}
    for group, differential in zip(outcome.groups, outcome.differentials, strict=True):
        for flag in differential.red_flags:
            flagged.setdefault(re.sub(r" keeps \d+%", "", flag), []).append(group.id)
    for flag, group_ids in flagged.items():
        console.print(f"[bold red]RED FLAG[/bold red] ({', '.join(group_ids)}) {flag}")
    for kind, path in outcome.files.items():
        console.print(f"{kind}: {path}")
