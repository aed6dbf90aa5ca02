"""Entry point of the ``calcdx`` command.

Every command calls one library function and prints its result. Errors calcdx
raises on purpose (:class:`~calcdx.errors.CalcdxError`) end with one line on
standard error and exit status 2, never a traceback.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated

import click
import typer
from rich.console import Console
from rich.table import Table

from calcdx.case.files import CaseRecord, read_cases
from calcdx.cli import cohort as cohort_commands
from calcdx.cli.render import print_differential, print_entity, print_study
from calcdx.errors import CalcdxError
from calcdx.kb.loader import load_knowledge_base
from calcdx.reasoning import default_engine
from calcdx.reasoning.differential import Engine

__all__ = ["app", "main"]

app = typer.Typer(
    name="calcdx",
    help="Soft-tissue calcification in radiology: differential diagnosis and CT analysis. "
    "Not for clinical use. Add --debug to see the traceback of an unexpected error.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
kb_app = typer.Typer(help="Inspect and validate the knowledge base.", no_args_is_help=True)
app.add_typer(kb_app, name="kb")
app.command()(cohort_commands.cohort)
app.command()(cohort_commands.compare)


def _stdout() -> Console:
    return Console(soft_wrap=False)


@app.command()
def ddx(
    cases: Annotated[
        list[str] | None,
        typer.Argument(help="Case files (.json), JSON Lines files (.jsonl) or - for stdin."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print calcdx-differential/1 JSON (one line per case).")
    ] = False,
    top: Annotated[int, typer.Option(help="Rows of the table.", min=1)] = 10,
    text: Annotated[
        str | None,
        typer.Option("--text", help="A finding described in words (instead of case files)."),
    ] = None,
) -> None:
    """Rank the differential diagnosis of one or more cases."""
    engine = default_engine()
    if text is not None or not cases:
        _ddx_text(engine, text, cases, as_json=as_json, top=top)
        return
    batch = len(cases) > 1 or any(c == "-" or c.endswith(".jsonl") for c in cases)
    console = _stdout()
    failures = 0
    for chunk in _chunks(read_cases(cases), 512):
        valid = [record.case for record in chunk if record.case is not None]
        results = iter(engine.diagnose_many(valid))
        for record in chunk:
            if record.case is None:
                failures += 1
                if not batch:
                    raise CalcdxError(f"{record.origin}: {record.error}")
                problem = f"{record.origin}: {record.error}"
                if as_json:
                    print(json.dumps({"case_id": record.case_id, "error": problem}))
                else:
                    print(f"error: {problem}", file=sys.stderr)
                continue
            differential = next(results)
            if as_json:
                print(json.dumps(differential.to_dict(), indent=None if batch else 2))
            else:
                print_differential(console, differential, top=top)
    if failures:
        print(f"error: {failures} case(s) failed validation (see the lines above)", file=sys.stderr)
        raise typer.Exit(2)


def _ddx_text(
    engine: Engine, text: str | None, cases: list[str] | None, *, as_json: bool, top: int
) -> None:
    """``calcdx ddx --text "..."``: read the description, then rank its differential."""
    from calcdx.text import read_text
    from calcdx.text.commands import print_reading

    if text is None or cases:
        raise CalcdxError(
            'give case files or --text "a description", not both and not neither; '
            "see calcdx ddx --help"
        )
    reading = read_text(text)
    differential = engine.diagnose(reading.case)
    if as_json:
        print(json.dumps(differential.to_dict(), indent=2))
        return
    console = _stdout()
    print_reading(console, reading)
    print_differential(console, differential, top=top)


@app.command()
def parse(
    source: Annotated[
        str, typer.Argument(help="The description itself, a text file, or - for stdin.")
    ],
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="One description per line in, one case-format JSON per line out."
        ),
    ] = False,
    readings: Annotated[
        bool,
        typer.Option(
            "--readings", help="With --json: each line the words per field and what was not read."
        ),
    ] = False,
) -> None:
    """Read a finding described in words into a case; show the words behind every field."""
    from calcdx.text.commands import parse_command

    status = parse_command(source, as_json=as_json, readings=readings, console=_stdout())
    if status:
        raise typer.Exit(status)


def _chunks(records: Iterable[CaseRecord], size: int) -> Iterator[list[CaseRecord]]:
    """Group records in order, `size` at a time (batches share one scoring pass)."""
    chunk: list[CaseRecord] = []
    for record in records:
        chunk.append(record)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@app.command()
def analyze(
    input_path: Annotated[
        Path, typer.Argument(help="DICOM folder or file, or NIfTI (.nii/.nii.gz).")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("calcdx-out"),
    series_uid: Annotated[
        str | None,
        typer.Option(
            "--series",
            help="SeriesInstanceUID to analyse, or a unique start of it (see calcdx series PATH).",
        ),
    ] = None,
    context: Annotated[
        Path | None, typer.Option(help="Case-format JSON with patient, clinical, labs.")
    ] = None,
    age: Annotated[float | None, typer.Option(help="Patient age in years.")] = None,
    sex: Annotated[str | None, typer.Option(help="female or male.")] = None,
    history: Annotated[
        list[str] | None, typer.Option(help="A clinical value present (repeatable).")
    ] = None,
    history_absent: Annotated[
        list[str] | None, typer.Option(help="A clinical value absent (repeatable).")
    ] = None,
    lab: Annotated[
        list[str] | None, typer.Option(help="A lab as name=level, e.g. calcium=high (repeatable).")
    ] = None,
    threshold_hu: Annotated[
        float, typer.Option(help="Mineral threshold in HU (inclusive).")
    ] = 130.0,
    min_volume_mm3: Annotated[float, typer.Option(help="Smallest lesion reported, mm^3.")] = 1.5,
    pdf: Annotated[bool, typer.Option("--pdf", help="Also write report.pdf.")] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing output folder whole.")
    ] = False,
    anatomy: Annotated[
        Path | None,
        typer.Option(
            help="TotalSegmentator output for this series: multi-label NIfTI, folder of "
            "<class>.nii.gz masks, or DICOM SEG."
        ),
    ] = None,
) -> None:
    """Find, measure and diagnose every soft-tissue calcification in a CT study."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from calcdx.analysis import AnalysisParameters
    from calcdx.case.context import build_context
    from calcdx.study import run_study

    clinical = build_context(
        file=context,
        age_years=age,
        sex=sex,
        history=history,
        history_absent=history_absent,
        labs=lab,
    )
    parameters = AnalysisParameters(threshold_hu=threshold_hu, min_volume_mm3=min_volume_mm3)
    columns = (TextColumn("{task.description:<14}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("reading", total=1.0)
        outcome = run_study(
            input_path,
            out,
            context=clinical,
            series_uid=series_uid,
            parameters=parameters,
            progress=lambda step, fraction: bar.update(task, description=step, completed=fraction),
            pdf=pdf,
            overwrite=overwrite,
            anatomy=anatomy,
        )
    print_study(_stdout(), outcome)


@app.command()
def series(
    path: Annotated[Path, typer.Argument(help="DICOM folder or file, or a NIfTI file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the image series of a study (analyze picks the CT series with most slices).

    On equal slices it picks the one whose kernel is named smoothest.
    """
    from calcdx.io import list_series

    found = list_series(path)
    if as_json:
        print(json.dumps([dataclasses.asdict(item) for item in found], indent=2))
        return
    # Whole UIDs, never cropped or folded, so they can be copied into --series.
    widest = max([len("SeriesInstanceUID"), *(len(item.uid) for item in found)])
    table = Table(title=f"Series under {path}")
    table.add_column("SeriesInstanceUID", no_wrap=True, min_width=widest)
    for column in ("Modality", "Description", "Kernel", "Slices", "Orientation"):
        table.add_column(column)
    for item in found:
        table.add_row(
            item.uid, item.modality, item.description, item.kernel, str(item.n_slices),
            item.orientation,
        )
    console = _stdout()
    console.width = max(console.width, widest + 64)  # room for the other columns
    console.print(table)


@app.command()
def phantom(
    out: Annotated[Path, typer.Argument(help="Folder to write the phantom into.")],
    contrast: Annotated[bool, typer.Option(help="Enhance the aorta and kidneys.")] = False,
    seed: Annotated[int, typer.Option(help="Noise seed (the geometry does not change).")] = 0,
) -> None:
    """Write a synthetic CT phantom as NIfTI and as a shuffled DICOM series, with its truth."""
    from calcdx.phantom import phantom_command

    with _stdout().status("writing phantom ..."):
        written = phantom_command(out, contrast=contrast, seed=seed)
    for path in written:
        print(path)


@app.command()
def serve(
    host: Annotated[
        str, typer.Option(help="Address to bind (loopback unless told).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    token: Annotated[
        str | None,
        typer.Option(envvar="CALCDX_TOKEN", help="Bearer token; required off loopback."),
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Folder whose studies may be analysed by path.")
    ] = None,
    database_url: Annotated[
        str | None, typer.Option(help="Job store URL (default: SQLite in the state folder).")
    ] = None,
    workers: Annotated[
        int, typer.Option(help="Server processes; one per CPU core for a busy department.")
    ] = 1,
    state_dir: Annotated[
        Path | None,
        typer.Option(
            help="Folder of the job files and the default job database "
            "(default: ~/.local/state/calcdx)."
        ),
    ] = None,
    ssl_certfile: Annotated[
        Path | None, typer.Option(help="PEM certificate: serve HTTPS (with --ssl-keyfile).")
    ] = None,
    ssl_keyfile: Annotated[
        Path | None, typer.Option(help="PEM private key of --ssl-certfile (unencrypted).")
    ] = None,
    job_memory_gib: Annotated[
        float, typer.Option(help="Memory limit of each analysis process, GiB.", min=0.5)
    ] = 4.0,
    job_minutes: Annotated[
        float, typer.Option(help="Time limit of each analysis, minutes.", min=0.1)
    ] = 30.0,
) -> None:
    """Serve the web app (differential, knowledge base, studies) and its REST API.

    Off loopback, give --ssl-certfile and --ssl-keyfile, or serve on 127.0.0.1
    behind a TLS proxy (nginx, Caddy) that forwards to it.
    """
    from calcdx.web.serve import serve_command

    serve_command(
        host,
        port,
        token,
        data_dir,
        database_url,
        workers=workers,
        state_dir=state_dir,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        job_memory_bytes=int(job_memory_gib * 1024**3),
        job_seconds=job_minutes * 60.0,
    )


@kb_app.command("list")
def kb_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the knowledge base's entities."""
    kb = load_knowledge_base()
    if as_json:
        items = [
            {
                "id": e.id,
                "name": e.name,
                "synonyms": e.synonyms,
                "mechanism": e.mechanism,
                "references": [r.model_dump(exclude_none=True) for r in e.references],
                "codes": [c.model_dump(exclude_none=True) for c in e.codes],
            }
            for e in kb
        ]
        print(json.dumps(items, indent=2))
        return
    console = _stdout()
    for entity in kb:
        console.print(f"{entity.id:<50} {entity.name}")
    console.print(f"{len(kb)} entities")


@kb_app.command("show")
def kb_show(
    entity_id: Annotated[str, typer.Argument(help="Entity id (see 'calcdx kb list').")],
) -> None:
    """Show one entity: findings, red flags, mimics, next steps, references."""
    print_entity(_stdout(), load_knowledge_base()[entity_id])


@kb_app.command("validate")
def kb_validate(
    path: Annotated[
        Path | None, typer.Argument(help="Knowledge-base folder (default: the packaged one).")
    ] = None,
) -> None:
    """Validate every knowledge-base file; exit 2 naming the file, field and problem."""
    kb = load_knowledge_base(path)
    figures = sum(len(e.figures()) for e in kb)
    references = sum(len(e.references) for e in kb)
    print(f"ok: {len(kb)} entities, {figures} published figures, {references} references")


@kb_app.command("fit")
def kb_fit(
    cases: Annotated[
        list[Path],
        typer.Argument(help="Labelled real case files (tests/data/real_cases/batch_*.yaml)."),
    ],
    path: Annotated[
        Path | None, typer.Option("--kb", help="Knowledge-base folder (default: the packaged one).")
    ] = None,
    write: Annotated[
        bool, typer.Option("--write", help="Rewrite the fitted block of the folder's scale.yaml.")
    ] = False,
) -> None:
    """Refit scale.yaml's calibration and compile-time settings on labelled real cases."""
    from calcdx.kb.loader import default_kb_path
    from calcdx.reasoning.evaluation import fit_scale, write_fitted_scale

    folder = default_kb_path() if path is None else path
    fitted = fit_scale(cases, load_knowledge_base(folder))
    calibration = fitted.calibration
    names = " / ".join(fitted.settings)
    print(f"cross-validated log loss (leave-one-file-out when several files) by {names}:")
    for values, loss in fitted.cv_log_loss.items():
        print(f"  {' / '.join(f'{v:g}' for v in values)}: {loss:.4f}")
    print(", ".join(f"{name} {value:g}" for name, value in fitted.settings.items()))
    print(
        f"prior_exponent {calibration.prior_exponent:g}, likelihood_exponent "
        f"{calibration.exponent:g}, presentation "
        f"{calibration.group_exponent('presentation'):g}, "
        f"clinical {calibration.group_exponent('clinical'):g}, "
        f"size {calibration.group_exponent('size'):g}, "
        f"unlisted_present_factor {calibration.unlisted_present:g}, "
        f"unlisted_absent_factor {calibration.unlisted_absent:g}, leak {calibration.leak:g}"
    )
    if write:
        names = ", ".join(sorted(p.stem for p in cases))
        fitted_on = f"{fitted.n_cases} labelled cases ({names}); least log loss, all cases"
        write_fitted_scale(folder / "scale.yaml", fitted, fitted_on)
        print(f"wrote {folder / 'scale.yaml'}")


#: Usage errors, from click itself and from the copy of click that typer >= 0.29 carries.
_USAGE_ERRORS: tuple[type[Exception], ...] = (click.ClickException,)
_EXITS: tuple[type[Exception], ...] = (click.exceptions.Exit, typer.Exit)
_ABORTS: tuple[type[BaseException], ...] = (click.exceptions.Abort, typer.Abort, KeyboardInterrupt)
try:
    from typer._click import exceptions as _typer_click
except ImportError:  # older typer uses click itself
    pass
else:
    _USAGE_ERRORS += (_typer_click.ClickException,)

#: Flag (anywhere before ``--``) that shows the traceback of an unexpected error.
DEBUG_FLAG = "--debug"


def crash_log_path() -> Path:
    """Return the file that receives the traceback of an unexpected error.

    Returns
    -------
    Path
        ``$XDG_STATE_HOME/calcdx/crash.log`` (``~/.local/state/calcdx/crash.log``).
    """
    from calcdx.web.settings import default_state_dir

    return default_state_dir() / "crash.log"


def _report_crash(exc: BaseException, argv: list[str]) -> None:
    """Print one line about an unexpected error; keep its traceback in the crash log."""
    import datetime
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    command = " ".join(["calcdx", *argv[:1]])
    text = "".join(traceback.format_exception(exc))
    log = crash_log_path()
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a", encoding="utf-8") as stream:
            stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
            stream.write(f"--- {stamp} calcdx {' '.join(argv)}\n{text}")
        kept = f"the traceback is in {log}"
    except OSError:
        kept = f"the traceback could not be written to {log}; rerun with {DEBUG_FLAG}"
    message = str(exc).splitlines()[0] if str(exc) else ""
    print(
        f"error: {command} failed unexpectedly: {type(exc).__name__}{where}"
        f"{': ' + message if message else ''}; {kept}; please report it",
        file=sys.stderr,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status.

    Never prints a traceback unless ``--debug`` is given: usage slips print
    click's one-line usage error, bad input prints one line naming the problem,
    and an unexpected error prints one line naming it and the crash log
    (:func:`crash_log_path`) that holds its traceback.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 2 for bad input or usage, 1 for an unexpected error,
        130 when interrupted.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    end = args.index("--") if "--" in args else len(args)
    debug = DEBUG_FLAG in args[:end]
    if debug:
        args = [a for a in args[:end] if a != DEBUG_FLAG] + args[end:]
    try:
        status = app(args=args, prog_name="calcdx", standalone_mode=False)
    except CalcdxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except _EXITS as exc:
        return int(getattr(exc, "exit_code", 0))
    except _ABORTS:
        print("aborted", file=sys.stderr)
        return 130
    except _USAGE_ERRORS as exc:
        getattr(exc, "show")()  # noqa: B009  (click's and typer's classes share show())
        return 2
    except Exception as exc:  # anything else is a bug: one line, traceback to the log
        if debug:
            raise
        _report_crash(exc, args)
        return 1
    return status if isinstance(status, int) else 0


if __name__ == "__main__":
    sys.exit(main())
