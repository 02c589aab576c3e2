"""The encoded training rows on every rank, held once per machine: files that every rank maps.

Every rank reads every training row (the sampler deals them out anew each epoch). Sending
each rank its own copy, pickled through the process group, held the set once per rank plus
the pickle. Instead rank 0 encodes the rows once, a chunk at a time, into `.npy` files in a
scratch directory and sends only their layout; every rank on its machine maps them
read-only (`np.load(mmap_mode="r")`), so their pages live once, in the page cache, however
many ranks read them.

Past one machine (world size > LOCAL_WORLD_SIZE: a TrainJob of several nodes), the first
rank of each machine receives the arrays from rank 0 in chunks, as tensors (`dist.broadcast`
among the machines' first ranks, never a pickle), and writes the same files for the ranks
of its machine. Ranks are numbered machine by machine (torchrun's node rank x local world
size + local rank), so a rank's machine starts at `rank - local_rank`.

Once every rank has mapped the files they are deleted: a mapping keeps its pages, and a
run killed after that point leaves nothing in the scratch directory.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from salesops.training.distributed import DistInfo, barrier, broadcast_from_main
from salesops.training.model import Scalers
from salesops.training.rows import (Rows, encode_chunks, fit_scalers, train_weight_mean,
                                    val_weight_mean)

#: rows per tensor sent to another machine
RELAY_ROWS = 1 << 16
SPLITS = ("train", "val")


@dataclass(frozen=True)
class SharedRows:
    train: Rows  # every training row, mapped
    val: Rows  # every validation row, mapped: each rank scores its own slice
    scalers: Scalers  # fitted on the training rows
    id_sizes: tuple[int, int]


@dataclass(frozen=True)
class _Manifest:
    """What goes through the process group: names, shapes, the scalers (a few KB)."""

    name: str  # of the scratch directory, per machine
    layout: dict[str, dict[str, tuple[tuple[int, ...], str]]]  # split: array: (shape, dtype)
    scalers: Scalers
    id_sizes: tuple[int, int]


def share_rows(info: DistInfo, training_set=None, scratch: Path | None = None) -> SharedRows:
    """Rank 0's `training_set` (None on the other ranks) encoded and mapped on every rank.

    `scratch`: where the files go, on every machine (default: the temporary directory).
    """
    root = Path(scratch or tempfile.gettempdir())
    leader = info.local_rank == 0
    directory = None
    try:
        manifest = None
        if info.is_main:
            name = f"salesops-rows-{uuid.uuid4().hex[:12]}"
            directory = _directory(root, name, info)
            directory.mkdir(mode=0o700)
            manifest = _write(training_set, directory, name)
        manifest = broadcast_from_main(info, manifest)
        directory = _directory(root, manifest.name, info)
        if info.world_size > info.local_world_size:
            _relay(info, manifest, directory)
        shared = SharedRows(*(_open(directory, split, manifest.layout[split])
                              for split in SPLITS), manifest.scalers, manifest.id_sizes)
        barrier(info)  # every rank has mapped them: the files can go
    finally:
        if leader and directory is not None:
            shutil.rmtree(directory, ignore_errors=True)
    return shared


def _directory(root: Path, name: str, info: DistInfo) -> Path:
    return root / f"{name}-node{info.rank - info.local_rank}"


def _write(training_set, directory: Path, name: str) -> _Manifest:
    """Fit the scalers, then encode both splits into `directory`, chunk by chunk."""
    from salesops.training.loop import check_inputs, id_sizes_of

    arrays = training_set.arrays()  # slices of the set: no copy
    train, y_train, val, y_val = (arrays[k] for k in ("train", "y_train", "val", "y_val"))
    scalers = fit_scalers(train.x, y_train)
    check_inputs(train, y_train, val, y_val, scalers)
    layout = {
        "train": _write_split(directory, "train", train, y_train, scalers,
                              train_weight_mean(train.level)),
        "val": _write_split(directory, "val", val, y_val, scalers, val_weight_mean(val.level)),
    }
    return _Manifest(name, layout, scalers, id_sizes_of(train))


def _write_split(directory: Path, split: str, inputs, y, scalers, weight_mean) -> dict:
    layout = {name: (shape, dtype.str) for name, (shape, dtype)
              in Rows.layout(len(inputs), np.shape(inputs.x)[1]).items()}
    files = {name: _open_npy(directory / f"{split}.{name}.npy", *layout[name])
             for name in layout}

    def append(rows: slice, part: Rows) -> None:
        for f in fields(part):
            files[f.name].write(memoryview(np.ascontiguousarray(getattr(part, f.name))))

    try:
        encode_chunks(inputs, y, scalers, weight_mean, append)
    finally:
        for out in files.values():
            out.close()
    return layout


def _open_npy(path: Path, shape: tuple[int, ...], dtype: str):
    """A `.npy` file open for its rows, header written."""
    out = open(path, "wb")  # noqa: SIM115 - closed by the caller once every chunk is in
    np.lib.format.write_array_header_1_0(out, {"descr": dtype, "fortran_order": False,
                                               "shape": tuple(shape)})
    return out


def _open(directory: Path, split: str, layout: dict) -> Rows:
    arrays = {}
    for name, (shape, dtype) in layout.items():
        array = np.load(directory / f"{split}.{name}.npy", mmap_mode="r")
        if array.shape != tuple(shape) or array.dtype.str != dtype:
            raise RuntimeError(f"{split}.{name}.npy holds {array.dtype}{array.shape}, "
                               f"not {dtype}{tuple(shape)}")
        arrays[name] = array
    return Rows(**arrays)


def _relay(info: DistInfo, manifest: _Manifest, directory: Path) -> None:
    """Rank 0's files to the first rank of every other machine, a chunk of rows at a time."""
    firsts = list(range(0, info.world_size, info.local_world_size))
    group = dist.new_group(firsts)  # a collective: every rank creates it
    try:
        if info.local_rank == 0:
            if not info.is_main:
                directory.mkdir(mode=0o700)
            for split in SPLITS:
                for name, (shape, dtype) in manifest.layout[split].items():
                    _relay_file(info, group, directory / f"{split}.{name}.npy", shape, dtype)
        barrier(info)  # every machine's files are complete
    finally:
        dist.destroy_process_group(group)


def _relay_file(info: DistInfo, group, path: Path, shape: tuple[int, ...], dtype: str) -> None:
    source = np.load(path, mmap_mode="r") if info.is_main else None
    out = None if info.is_main else _open_npy(path, shape, dtype)
    torch_dtype = torch.from_numpy(np.empty(0, dtype=dtype)).dtype
    try:
        for start in range(0, shape[0], RELAY_ROWS):
            rows = (min(RELAY_ROWS, shape[0] - start), *shape[1:])
            if source is not None:
                chunk = torch.from_numpy(np.array(source[start:start + rows[0]]))
            else:
                chunk = torch.empty(rows, dtype=torch_dtype)
            # nccl moves tensors between GPUs only; gloo through host memory
            chunk = chunk.to(info.device) if info.backend == "nccl" else chunk
            dist.broadcast(chunk, src=0, group=group)
            if out is not None:
                out.write(memoryview(chunk.cpu().numpy()))
    finally:
        if out is not None:
            out.close()
