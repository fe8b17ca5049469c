"""Atomic output: write to a temporary file beside the target, then rename over it.

A crash, a full disk or Ctrl-C leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from .errors import TankerwatchError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success rename it to ``path``.

    For writers that need a file name (rasterio, PIL, matplotlib). The temporary name keeps the
    target's suffix so format-sniffing writers pick the right driver. On error it is removed.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}",
                                        dir=target.parent)
    except OSError as exc:
        raise TankerwatchError(f"{target.parent}: cannot write here ({exc.strerror})") from None
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp creates the file owner-only; outputs are shared with colleagues and GIS tools, so
    # give the renamed file what a plain open() would have: 0o666 less the umask.
    os.chmod(tmp, 0o666 & ~_umask())
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _umask() -> int:
    # The only way to read the umask is to set it; set it straight back.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_csv(path: str | os.PathLike, header: Sequence, rows: Iterable[Sequence]) -> None:
    """A CSV with a header row, ``\n`` line ends, None as an empty cell (the csv module's own rule)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())
