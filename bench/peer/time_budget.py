"""A Lightning callback for bench/peer_sen2ships.py: size our training schedule to a wall-clock budget
the way Ultralytics' ``time=`` mode sizes the peer's.

Ultralytics, given ``time=H``, re-estimates after every epoch how many epochs fit in H hours (mean
epoch time so far) and re-sizes its learning-rate schedule to that count. ``--trainer.max_time`` alone
only stops a run, leaving our cosine schedule (sized to ``max_epochs``) wherever it was; on busy cores
that is most of the way up. This callback gives our run the same treatment as the peer's: after each
epoch (validation included) it sets ``max_epochs`` to the whole epochs that fit in ``seconds`` and
stretches or shrinks the cosine of :func:`tankerwatch.train.lightning_module.warmup_cosine` to end
there. ``--trainer.max_time`` stays the hard stop. Bench-only: it is not part of the project's
training, and it is added with ``--trainer.callbacks+=`` (PYTHONPATH=bench/peer).
"""

from __future__ import annotations

import functools
import math
import sys
import time

import lightning as L


class TimeBudgetSchedule(L.Callback):
    def __init__(self, seconds: float):
        self.seconds = float(seconds)
        self._start: float | None = None

    def on_train_start(self, trainer, pl_module) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self._start is None:
            return
        done = trainer.current_epoch + 1
        per_epoch = (time.perf_counter() - self._start) / done
        epochs = max(done, math.floor(self.seconds / per_epoch))
        trainer.fit_loop.max_epochs = epochs
        config = trainer.lr_scheduler_configs[0]
        factor = config.scheduler.lr_lambdas[0]
        if not (isinstance(factor, functools.partial) and "total" in factor.keywords):
            raise RuntimeError("TimeBudgetSchedule expects the LambdaLR of warmup_cosine(step, warmup, total)")
        total = max(1, epochs * trainer.num_training_batches)
        config.scheduler.lr_lambdas[0] = functools.partial(factor.func, *factor.args, **{**factor.keywords,
                                                                                         "total": total})
        print(f"time budget: epoch {done} done, {per_epoch:.0f} s per epoch -> max_epochs {epochs}, "
              f"schedule total {total} steps", file=sys.stderr, flush=True)
