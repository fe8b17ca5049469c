"""Shared helpers for the training benchmarks: CPU and GPU description and reading a run's curve."""

from __future__ import annotations

import csv
import os
import platform
import subprocess
import sys
import time
from pathlib import Path


def cpu_description() -> str:
    """CPU model, core count and the SIMD flags that matter for torch, from /proc/cpuinfo."""
    model, flags = platform.processor() or "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    wanted = [f for f in ("avx2", "fma", "avx_vnni", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile") if f in flags]
    return f"{model}; {os.cpu_count()} logical CPUs visible; flags: {' '.join(wanted) or 'none of avx2/avx512'}"


def gpu_description() -> str:
    """The CUDA device torch sees (name, memory, multiprocessors) and the torch and CUDA versions."""
    import torch

    if not torch.cuda.is_available():
        return "no CUDA device visible to torch"
    props = torch.cuda.get_device_properties(0)
    return (f"GPU {props.name}, {props.total_memory / 2**30:.0f} GiB, {props.multi_processor_count} SMs; "
            f"torch {torch.__version__}, CUDA {torch.version.cuda}")


def read_curve(metrics_csv: Path, keys: list[str]) -> list[dict]:
    """Rows of a CSVLogger ``metrics.csv`` that hold validation figures, merged per epoch."""
    per_epoch: dict[int, dict] = {}
    with open(metrics_csv, newline="") as handle:
        for row in csv.DictReader(handle):
            if not row.get("epoch"):
                continue
            values = {k: float(row[k]) for k in keys if row.get(k) not in (None, "")}
            if values:
                per_epoch.setdefault(int(row["epoch"]), {}).update(values)
    return [{"epoch": e, **v} for e, v in sorted(per_epoch.items())]


TANKERWATCH = str(Path(sys.executable).with_name("tankerwatch"))


def run_tankerwatch(*args) -> tuple[str, float]:
    """Run ``tankerwatch ARGS`` (exit 0 or 1: a batch with some failures still measures); its stdout
    and wall seconds. Any other exit ends the benchmark with tankerwatch's own message."""
    start = time.perf_counter()
    done = subprocess.run([TANKERWATCH, *map(str, args)], capture_output=True, text=True)
    if done.returncode not in (0, 1):
        sys.exit(f"tankerwatch {args[0]} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout, time.perf_counter() - start
