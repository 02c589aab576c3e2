"""Per-epoch progress of a training run: a rich bar on a terminal, plain lines elsewhere.

CI logs and pods get one line per epoch (a bar's carriage returns make a mess of a log
file); a person at a terminal gets a bar with the latest losses; `-q` gets nothing. The
mode is decided where the command was typed (`progress_mode`) and handed to the worker
process, whose stderr is the terminal's.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from typing import Literal

Mode = Literal["bar", "lines", "off"]


def progress_mode(quiet: bool) -> Mode:
    if quiet:
        return "off"
    ci = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
    return "bar" if sys.stderr.isatty() and not ci else "lines"


@contextmanager
def epoch_progress(mode: Mode, epochs: int, workers: str = "", members: int = 1,
                   at_once: int = 1):
    """Yield the `on_epoch` callback for `training.loop.train`. `workers` says who trains
    (`2 processes × 1 thread`), and `at_once` how many networks train side by side; they
    head the output. Each line gives the member, the epoch's time and the time since
    training started."""
    started = time.perf_counter()
    what = f"{members} networks × {epochs} epochs" if members > 1 else f"{epochs} epochs"
    if at_once > 1:
        what += f", {at_once} at a time,"
    header = f"training {what} on {workers}" if workers else f"training {what}"
    if mode == "bar":
        with _bar(epochs * members, header) as report:
            yield report
    elif mode == "lines":
        print(header, file=sys.stderr, flush=True)
        yield lambda entry: print(
            f"{_member(entry, members)}epoch {entry['epoch']:>3}/{epochs}  {_losses(entry)}  "
            f"({entry['seconds']:.1f}s, {time.perf_counter() - started:.1f}s elapsed)",
            file=sys.stderr, flush=True)
    else:
        yield lambda entry: None


def _member(entry: dict, members: int) -> str:
    return f"network {entry.get('member', 1)}/{members}  " if members > 1 else ""


def _losses(entry: dict) -> str:
    return f"train_loss {entry['train_loss']:.4f}  val_loss {entry['val_loss']:.4f}"


@contextmanager
def _bar(epochs: int, header: str):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from rich.progress import TimeElapsedColumn

    console = Console(stderr=True, force_terminal=True)
    console.print(header, markup=False)
    columns = (TextColumn("training"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("{task.fields[losses]}"))
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("epochs", total=epochs, losses="")

        def report(entry: dict) -> None:  # epochs of every network so far
            progress.update(task, advance=1, losses=_losses(entry))

        yield report
        # an early stop leaves the bar short of `epochs`: say so instead of a frozen bar
        done = progress.tasks[0].completed
        if done < epochs:
            progress.update(task, total=done)
            console.print(f"stopped early: {done} of {epochs} epochs")
