"""The cohort tables' schema as the README documents it is the schema written."""

import re
from pathlib import Path

from calcdx.cohort import SCHEMAS

README = Path(__file__).resolve().parents[2] / "README.md"


def _documented(name: str) -> list[str]:
    """Columns of a table's README row, with its shorthands spelled out."""
    row = re.search(rf"^\| `{name}` \| [^|]+ \| ([^|]+) \|$", README.read_text(), re.M)
    assert row, f"README documents no `{name}` table"
    columns = []
    for part in row.group(1).split(","):
        part = re.sub(r"\s*\(.*?\)", "", part.strip())  # "status (done/failed/pending)"
        if match := re.fullmatch(r"(\w+)_x/y/z_(\w+)", part):  # centroid_x/y/z_mm
            columns += [f"{match.group(1)}_{axis}_{match.group(2)}" for axis in "xyz"]
        elif match := re.fullmatch(r"baseline/followup_(\w+)", part):
            columns += [f"baseline_{match.group(1)}", f"followup_{match.group(1)}"]
        else:
            columns.append(part)
    return columns


def test_every_table_is_documented_column_for_column():
    for name, schema in SCHEMAS.items():
        assert _documented(name) == schema.names, name
