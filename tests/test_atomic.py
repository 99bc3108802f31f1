"""Atomic writes (monitor.io.atomic)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from monitor.io import atomic
from monitor.io.atomic import atomic_write


def test_replaces_whole_and_takes_ordinary_file_permissions(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "report.json"
    with atomic_write(target, "w") as f:
        f.write("one")
    with atomic_write(target, "w", fsync=True) as f:
        f.write("two")
    assert target.read_text() == "two"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask == atomic._FILE_MODE
    assert [p.name for p in target.parent.iterdir()] == ["report.json"]


def test_an_error_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "series.npz"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_write(target) as f:
        f.write(b"half")
        raise RuntimeError("killed mid-write")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["series.npz"]
