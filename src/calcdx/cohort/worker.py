"""What the cohort's local cluster installs on its worker processes."""

from __future__ import annotations

import gc
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

__all__ = ["QuickExit"]


class QuickExit(WorkerPlugin):
    """Let a worker process exit without a long final garbage collection.

    At exit the interpreter's last collection walks every object the worker built over its
    studies (modules, caches, the knowledge base); on a busy machine this took longer than
    the nanny's 4 s grace, so every local run ended waiting 4 s, then killing its workers.
    Freezing the collector when the worker closes makes that collection skip the live
    objects; the process's memory is freed on exit either way.
    """

    name = "calcdx-quick-exit"

    def teardown(self, worker: Any) -> None:
        """Freeze the collector (the worker is closing; no study runs after this)."""
        gc.freeze()
