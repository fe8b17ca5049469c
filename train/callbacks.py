"""Training callbacks: a per-epoch summary line (always on) and wall time for benchmarks (opt-in)."""

from __future__ import annotations

import sys
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


class EpochSummary(L.Callback):
    """Print one line per validation to stderr when the progress bar is off, so a long run without a
    terminal (the demo, CI, a batch job's log) still shows where it stands: epoch, seconds since fit
    started, train loss, val AP50 and load accuracy at GSD <= 2 m. Silent while a bar is shown: the
    bar carries the same figures."""

    FIGURES = (("train/loss", "train loss", "{:.3f}"), ("val/vessel_AP50", "val AP50", "{:.3f}"),
               ("val/AP50_tanker", "tanker AP50", "{:.3f}"),
               ("val/load_accuracy.gsd_le2", "load acc <= 2 m", "{:.3f}"))

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self._start: float | None = None

    def on_fit_start(self, trainer, pl_module) -> None:
        self._start = time.perf_counter()

    # on_validation_end, not on_validation_epoch_end: the module logs its figures in the latter,
    # after the callbacks' turn, so only here are they this epoch's.
    def on_validation_end(self, trainer, pl_module) -> None:
        if (not self.enabled or trainer.sanity_checking or trainer.progress_bar_callback is not None
                or not trainer.is_global_zero or self._start is None):
            return
        metrics = trainer.callback_metrics
        parts = [f"{label} {fmt.format(float(metrics[key]))}" for key, label, fmt in self.FIGURES if key in metrics]
        total = f"/{trainer.max_epochs}" if trainer.max_epochs and trainer.max_epochs > 0 else ""
        print(f"epoch {trainer.current_epoch + 1}{total} ({time.perf_counter() - self._start:.0f} s): "
              + ", ".join(parts), file=sys.stderr, flush=True)
