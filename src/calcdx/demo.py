"""``make demo``: the whole path on a generated example, then where the outputs are.

Writes a synthetic CT phantom (NIfTI and a shuffled DICOM series), analyses the
DICOM series with a sample clinical context, prints the burden and the top of
each lesion group's differential, and says where ``result.json``, the label map
and the report are. Run as ``python -m calcdx.demo --out DIR``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from calcdx.case.context import build_context
from calcdx.cli.render import print_study
from calcdx.phantom import write_phantom
from calcdx.study import run_study

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Generate a phantom, analyse it with a sample context and print the results."""
    parser = argparse.ArgumentParser(prog="python -m calcdx.demo")
    parser.add_argument("--out", type=Path, default=Path("demo-output"))
    args = parser.parse_args(argv)
    console = Console()
    console.print("[bold]calcdx demo[/bold]: synthetic CT phantom with planted calcifications")
    written = write_phantom(args.out / "phantom")
    context = build_context(age_years=34, sex="male", history=["trauma_recent", "endemic_taenia"])
    console.print(f"Sample clinical context: {context}")
    outcome = run_study(written["dicom"], args.out / "analysis", context=context,
                        overwrite=True)
    print_study(console, outcome)
    report = outcome.files.get("report", outcome.files["result"])
    console.print(f"\n[bold]Report:[/bold] {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
