"""``make demo``: run calcdx on a bundled example and say where the output is.

Run as ``python -m calcdx.demo --out DIR``.
"""

from __future__ import annotations

import argparse
import json
import sys
from importlib import resources
from pathlib import Path

from rich.console import Console

from calcdx.case.model import parse_case
from calcdx.cli.render import print_differential
from calcdx.reasoning import default_engine

__all__ = ["main"]

EXAMPLE = "myositis_ossificans_thigh.json"


def main(argv: list[str] | None = None) -> int:
    """Diagnose the bundled example case, print it and write the JSON differential."""
    parser = argparse.ArgumentParser(prog="python -m calcdx.demo")
    parser.add_argument("--out", type=Path, default=Path("demo-output"))
    args = parser.parse_args(argv)
    raw = json.loads(resources.files("calcdx.examples").joinpath(EXAMPLE).read_text("utf-8"))
    differential = default_engine().diagnose(parse_case(raw))
    console = Console()
    console.print(f"[bold]Example case[/bold] ({EXAMPLE}): {json.dumps(raw['imaging'])}")
    print_differential(console, differential, top=5)
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / "differential.json"
    target.write_text(json.dumps(differential.to_dict(), indent=2), encoding="utf-8")
    console.print(f"\nDifferential written to {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
