"""The ``calcdx parse`` command and ``calcdx ddx --text``: input, output, messages."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from calcdx.errors import InputError, TextError
from calcdx.text.reader import Reading, default_reader

__all__ = ["parse_command", "print_reading", "read_source"]


def read_source(source: str) -> str:
    """The text behind a ``parse`` argument: ``-`` (standard input), a file, or the text itself.

    Parameters
    ----------
    source : str
        ``-``, a path to an existing text file, or the description itself.

    Returns
    -------
    str
        The text.

    Raises
    ------
    InputError
        When the file exists but cannot be read as UTF-8 text.
    """
    if source == "-":
        return sys.stdin.read()
    path = Path(source)
    try:
        is_file = len(source) < 4096 and "\n" not in source and path.is_file()
    except OSError:
        is_file = False
    if not is_file:
        return source
    try:
        return path.read_text("utf-8")
    except (PermissionError, UnicodeDecodeError) as exc:
        raise InputError(f"{source}: cannot read it as a UTF-8 text file ({exc})") from None


def print_reading(console: Console, reading: Reading) -> None:
    """Print a reading: each case value with its words, what was set aside, what was not read."""
    table = Table(title="Read from the text", expand=False)
    table.add_column("Field")
    table.add_column("Value")
    table.add_column("Words")
    for value in reading.values:
        table.add_row(value.field, escape(str(value.value)), escape(repr(value.source.words)))
    console.print(table)
    for item in reading.set_aside:
        console.print(f"[yellow]set aside[/yellow] {escape(repr(item.source.words))}: "
                      f"{escape(item.reason)}")
    if reading.not_understood:
        words = ", ".join(repr(p.words) for p in reading.not_understood)
        console.print(f"[bold]Not understood[/bold] (not in the case): {escape(words)}")
    console.print_json(json.dumps(reading.case.to_json_dict()))


def parse_command(source: str, *, as_json: bool, readings: bool, console: Console) -> int:
    """Run ``calcdx parse``.

    Parameters
    ----------
    source : str
        ``-``, a text file, or the description itself.
    as_json : bool
        One description per input line, one case-format JSON object per output
        line (``calcdx parse --json notes.txt | calcdx ddx --json -``).
    readings : bool
        With `as_json`, print the whole ``calcdx-reading/1`` (case, words per
        field, set aside, not understood) instead of the bare case.
    console : Console
        Where the human rendering goes.

    Returns
    -------
    int
        0, or 2 when a line of a batch could not be read.

    Raises
    ------
    TextError
        When the single description is empty or off-topic.
    """
    text = read_source(source)
    reader = default_reader()
    if not as_json:
        print_reading(console, reader.read(" ".join(text.split())))
        return 0
    lines = [(number, line) for number, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not lines:
        raise TextError("the input holds no description; give one description per line")
    failures = 0
    out = sys.stdout
    for (number, _), result in zip(
        lines, reader.read_many(line for _, line in lines), strict=True
    ):
        if isinstance(result, TextError):
            failures += 1
            out.write(json.dumps({"line": number, "error": str(result)}) + "\n")
            continue
        document = result.to_dict() if readings else result.case.to_json_dict()
        out.write(json.dumps(document) + "\n")
    if failures:
        print(f"error: {failures} description(s) could not be read (see their lines)",
              file=sys.stderr)
        return 2
    return 0
