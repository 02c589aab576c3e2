"""Where things are printed: data on stdout, messages and progress on stderr.

With `--json`, stdout carries exactly one JSON document and nothing else; with `-q`, only
warnings and errors reach stderr. Rich is imported on first use, not at start-up.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from salesops.masking import mask_url


@dataclass
class Output:
    json_mode: bool = False
    quiet: bool = False
    debug: bool = False
    _started: float = field(default_factory=time.perf_counter)

    # -- stderr -------------------------------------------------------------------------
    @property
    def err(self):
        from rich.console import Console

        if not hasattr(self, "_err"):
            self._err = Console(stderr=True, highlight=False, soft_wrap=True)
        return self._err

    # every message is masked (`masking.mask_url`): whoever wrote it, no credential in a URL
    # it quotes reaches a terminal or a CI log
    def info(self, message: str) -> None:
        if not self.quiet:
            self.err.print(mask_url(message), markup=False)

    def step(self, message: str) -> None:
        """A progress line: elapsed seconds since the command started, then the message."""
        if not self.quiet:
            elapsed = time.perf_counter() - self._started
            self.err.print(f"[dim]{elapsed:6.1f}s[/dim] {_escape(mask_url(message))}",
                           markup=True, highlight=False)

    def warn(self, message: str) -> None:
        self.err.print(f"[yellow]warning:[/yellow] {_escape(mask_url(message))}",
                       highlight=False)

    def error(self, message: str) -> None:
        self.err.print(f"[bold red]error:[/bold red] {_escape(mask_url(message))}",
                       highlight=False)

    # -- stdout -------------------------------------------------------------------------
    def emit(self, data: Any, human: Callable[[Any], None] | None = None) -> None:
        """Print the command's result: one JSON document, or the human rendering.

        A failed write (a full disk, a read-only file behind a redirection) is an OSError
        naming `<stdout>`, which the entry point reports in one line (exit 2)."""
        try:
            if self.json_mode:
                sys.stdout.write(json.dumps(data, default=_json_default, indent=2) + "\n")
            elif human is not None:
                from rich.console import Console

                human(Console(highlight=False, soft_wrap=True))
            sys.stdout.flush()  # now, so a write error is raised here, not at exit
        except BrokenPipeError:  # the reader left (`| head`): click ends quietly (exit 1)
            raise
        except OSError as exc:
            if exc.filename is not None or exc.errno is None:
                raise
            raise OSError(exc.errno, exc.strerror, "<stdout>") from exc

    def manifests(self, manifests: list[dict[str, Any]]) -> None:
        """`--dry-run`: Kubernetes objects for `kubectl apply -f -`: multi-document YAML, or
        with --json one `kind: List` document (kubectl takes both)."""
        if self.json_mode:
            self.emit({"apiVersion": "v1", "kind": "List", "items": manifests})
            return
        import yaml

        self._write("".join("---\n" + yaml.safe_dump(manifest, sort_keys=False,
                                                      default_flow_style=False)
                            for manifest in manifests))

    def lines(self, lines: Iterable[str]) -> None:
        """Lines streamed to stdout as they come (a log being followed)."""
        for line in lines:
            self._write(line + "\n")

    def log(self, name: str, lines: Iterable[str]) -> None:
        """A run's log (`train logs`, `features logs`): streamed, or with --json one object
        `{name, lines}` once it has ended."""
        if self.json_mode:
            self.emit({"name": name, "lines": list(lines)})
        else:
            self.lines(lines)

    def _write(self, text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    def table(self, title: str | None, columns: Iterable[str], rows: Iterable[Iterable[Any]]):
        """A rich table; long cells (paths) fold onto more lines rather than being cut."""
        from rich.table import Table

        table = Table(title=None if title is None else _escape(title), title_justify="left",
                      header_style="bold")
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*[_cell(value) for value in row])
        return table


def _cell(value: Any) -> str:
    """A table cell. Integers print as they are: in these tables they are pids, ports, ids,
    versions and years, which thousands separators would garble ("17,726"); a count that
    reads better grouped is formatted by its caller (`f"{rows:,} rows"`)."""
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return _escape("" if value is None else str(value))


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return dict(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")
