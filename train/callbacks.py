"""Optional callbacks for benchmarks (not in the default configs: they put wall time in the logs)."""

from __future__ import annotations

import time

import lightning as L


class ElapsedTime(L.Callback):
    """Log ``time/elapsed_s`` (seconds since fit started) after every validation, for time-to-target
    curves. Add with ``--trainer.callbacks+=tankerwatch.train.callbacks.ElapsedTime``."""

    def __init__(self):
        self._start: float | None = None

    def on_fit_start(self, trainer, pl_module) -> None:
        self._start = time.perf_counter()

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if self._start is not None and not trainer.sanity_checking:
            pl_module.log("time/elapsed_s", time.perf_counter() - self._start)
