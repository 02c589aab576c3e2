"""Build generations: staged beside the current one, switched by one rename, pruned."""

import shutil

import pytest

from salesops.stores.generation import ensure_current, staged, switch
from salesops.workspace import Workspace


def _build(workspace: Workspace, text: str) -> None:
    with staged(workspace) as generation:
        generation.build_manifest.write_text(text)
        switch(workspace, generation)


def test_a_switch_changes_what_current_reads_and_keeps_one_previous(tmp_path):
    ws = Workspace(tmp_path / "ws")
    for number in range(1, 5):
        _build(ws, f"build {number}")
        assert ws.build_manifest.read_text() == f"build {number}"
    assert sorted(p.name for p in ws.generations.iterdir()) == ["000003", "000004"]
    assert ws.current.is_symlink() and not ws.current.readlink().is_absolute()


def test_a_failed_build_leaves_the_current_generation_and_no_staging(tmp_path):
    ws = Workspace(tmp_path / "ws")
    _build(ws, "good")
    with pytest.raises(RuntimeError), staged(ws) as generation:
        generation.build_manifest.write_text("half")
        raise RuntimeError("the build failed")
    assert ws.build_manifest.read_text() == "good"
    assert not list(ws.generations.glob(".staging-*"))


def test_a_killed_builds_staging_folder_is_cleared_by_the_next_build(tmp_path):
    ws = Workspace(tmp_path / "ws")
    _build(ws, "good")
    (ws.generations / ".staging-000009-123").mkdir()  # what a `kill -9` leaves
    _build(ws, "next")
    assert not list(ws.generations.glob(".staging-*"))
    assert ws.build_manifest.read_text() == "next"


def test_a_copy_that_followed_the_link_gets_its_generation_back(tmp_path):
    ws = Workspace(tmp_path / "ws")
    _build(ws, "good")
    copy = Workspace(tmp_path / "copy")
    shutil.copytree(ws.root, copy.root)  # follows links: `current` becomes a folder
    assert not copy.current.is_symlink()
    ensure_current(copy)
    assert copy.current.is_symlink() and copy.build_manifest.read_text() == "good"
    _build(copy, "next")
    assert copy.build_manifest.read_text() == "next"
