"""How the differential does on cases its entity files were never audited on (development only).

The knowledge-base audits read the development cases' misses, so cross-validation on
the development files, even leave-one-batch-out, scores cases the entity files were
partly written from. This bench estimates what that hides, from the development files
alone: the development batches added after the development/held-out split
(``tests/data/real_cases/ddx_split.yaml``, whose first commit is the split) were never
seen by the entity files as they stood at the split. Each such batch is scored with the
entity files of the split commit (read from git) by the calibration fitted, as
deployed, on the other development batches with today's entity files. Scale and
background are today's for both (the engine under test), and the settings those of
``scale.yaml``. No held-out file is read.

Run from the repository root (needs git): ``python -m bench.bench_ddx_transfer``.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import yaml

from calcdx.kb.loader import KnowledgeBase, default_kb_path, load_knowledge_base
from calcdx.reasoning.differential import Engine
from calcdx.reasoning.evaluation import (
    Features,
    LabelledCase,
    Scores,
    calibrated_posterior,
    case_groups,
    fit_calibration,
    load_labelled_cases,
    raw_features,
    score,
)
from calcdx.reasoning.model import compile_model

ROOT = Path(__file__).parents[1]
CASES = ROOT / "tests" / "data" / "real_cases"
SPLIT = CASES / "ddx_split.yaml"


def _git(*args: str) -> bytes:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True).stdout


def split_commit() -> str:
    """The commit that first wrote ddx_split.yaml."""
    relative = SPLIT.relative_to(ROOT).as_posix()
    return _git("log", "--diff-filter=A", "--format=%H", "--", relative).decode().split()[-1]


def stale_knowledge_base(commit: str, folder: Path) -> KnowledgeBase:
    """Today's scale and background with the entity files of `commit`, built in `folder`."""
    shutil.copytree(default_kb_path(), folder)
    shutil.rmtree(folder / "entities")
    entities = default_kb_path().relative_to(ROOT) / "entities"
    archive = _git("archive", commit, entities.as_posix())
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder / "git", filter="data")
    shutil.move(folder / "git" / entities, folder / "entities")
    for path in (folder / "entities").glob("*.yaml"):
        _drop_codes(path)
    return load_knowledge_base(folder)


def _drop_codes(path: Path) -> None:
    """Replace an old entity file's standard codes by a note.

    The codes carry nothing the engine uses, and the rules the loader checks them by
    have grown stricter since the split; without this the files of the split commit no
    longer load.
    """
    entity = yaml.safe_load(path.read_text("utf-8"))
    entity.pop("codes", None)
    entity.setdefault("codes_note", "codes left out for the transfer test")
    path.write_text(yaml.safe_dump(entity, sort_keys=False, allow_unicode=True), "utf-8")


def _features(kb: KnowledgeBase, cases: list[LabelledCase]) -> tuple[Features, np.ndarray]:
    model = compile_model(kb)
    truth = np.array([model.index(item.truth) for item in cases], dtype=np.int64)
    return raw_features(Engine(model), cases), truth


def transfer(commit: str | None = None) -> tuple[list[LabelledCase], np.ndarray, np.ndarray]:
    """Posteriors of the development batches absent at `commit` (default: the split).

    Returns the cases, their truths and their posteriors.
    """
    commit = split_commit() if commit is None else commit
    development = yaml.safe_load(SPLIT.read_text("utf-8"))["development"]
    present = set(_git("ls-tree", "--name-only", commit, f"{CASES.relative_to(ROOT)}/").split())
    unseen = {
        Path(name).stem
        for name in development
        if f"{CASES.relative_to(ROOT)}/{name}".encode() not in present
    }
    kb = load_knowledge_base()
    with tempfile.TemporaryDirectory() as scratch:
        stale = stale_knowledge_base(commit, Path(scratch) / "kb")
    known = set(stale.entities)
    cases = [
        item
        for item in load_labelled_cases([CASES / name for name in development], list(kb.entities))
        if item.truth in known
    ]
    today, truth = _features(kb, cases)
    # the files of the split may hold fewer entities than today's: the unseen cases are
    # scored over the entities of the split, each with its prior there
    old, old_truth = _features(stale, cases)
    deployed = compile_model(kb)
    log_prior = np.log(deployed.prior)
    old_log_prior = np.log(compile_model(stale).prior)
    batch = np.array([item.batch for item in cases])
    posterior = np.zeros_like(old.log_likelihood)
    for name in sorted(unseen):
        test, train = batch == name, batch != name
        part = Features(*(array[train] for array in today if array is not None))
        calibration = fit_calibration(
            part, log_prior, truth[train], pooled=deployed.calibration.pooled
        )
        held = Features(*(array[test] for array in old if array is not None))
        posterior[test] = calibrated_posterior(held, old_log_prior, calibration)
    keep = np.isin(batch, sorted(unseen))
    return (
        [item for item, k in zip(cases, keep, strict=True) if k],
        old_truth[keep],
        posterior[keep],
    )


def _row(label: str, scores: Scores) -> str:
    return (
        f"| {label} | {scores.n} | {scores.top1:.3f} | {scores.top3:.3f} | {scores.top5:.3f} "
        f"| {scores.brier:.3f} | {scores.ece:.3f} | {scores.log_loss:.3f} |"
    )


def run() -> list[str]:
    """Markdown lines."""
    commit = split_commit()
    cases, truth, posterior = transfer(commit)
    batches = ", ".join(sorted({item.batch for item in cases}))
    lines = [
        "### Development batches the entity files never saw (transfer test)",
        "",
        f"Batches {batches} (added after the split, commit {commit[:7]}) scored with the entity "
        "files of that commit, by calibrations fitted on the other development batches with "
        "today's files.",
        "",
        "| Cases | n | top-1 | top-3 | top-5 | Brier | ECE | log loss |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        _row("all", score(posterior, truth)),
    ]
    for label, mask in case_groups(cases):
        lines.append(_row(label, score(posterior[mask], truth[mask])))
    return [*lines, ""]


if __name__ == "__main__":
    print("\n".join(run()))
