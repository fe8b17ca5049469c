import os
import stat

import pytest

from tankerwatch.infer.core.atomic import atomic_path, atomic_write_text
from tankerwatch.infer.core.errors import TankerwatchError


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "out.json"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.json"]


def test_unwritable_folder_is_one_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(TankerwatchError, match="cannot write here"):
        atomic_write_text(blocker / "sub" / "out.txt", "x")


def test_written_file_has_the_umask_permissions_not_owner_only(tmp_path):
    previous = os.umask(0o022)
    try:
        target = tmp_path / "shared.geojson"
        atomic_write_text(target, "{}")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
