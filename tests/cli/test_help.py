"""Help screens a user can read: no `<bool>` on flags, summaries whole, every option explained."""

import re

import typer.main

from salesops.cli import app
from salesops.cli.help import polish


def commands():
    """(path, click command) for the root, every group and every command."""
    root = polish(typer.main.get_command(app))
    found = []

    def walk(command, path):
        found.append((path, command))
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(root, [])
    return found


def helps(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    for path, command in commands():
        result = cli(*path, "--help")
        assert result.exit_code == 0, path
        yield path, command, result.stdout


def test_flags_show_no_value_placeholder(cli, monkeypatch):
    for path, _, text in helps(cli, monkeypatch):
        assert "<bool>" not in text, path
    assert "--json" in cli("--help").stdout


def test_command_summaries_are_not_broken_mid_sentence(cli, monkeypatch):
    """A group's list shows each command's first paragraph on one line (wide terminal)."""
    for path, command, text in helps(cli, monkeypatch):
        for name, sub in getattr(command, "commands", {}).items():
            first = " ".join(sub.help.split("\n\n")[0].split())
            line = next(line for line in text.splitlines()
                        if re.match(rf"[│\s]*{name}\s", line))
            assert first in re.sub(r"\s+", " ", line), (path, name, line)


def test_every_option_has_help():
    """Every option a user sees is explained (hidden internal ones are not shown)."""
    for path, command in commands():
        for param in command.params:
            if isinstance(param, typer.core.TyperOption) and not param.hidden:
                assert param.help, (path, param.opts)


def test_help_pages_break_lines_where_the_terminal_does(cli, monkeypatch):
    """Docstrings are wrapped in the source; on a wide terminal a paragraph is one line."""
    for path, command in commands():
        for paragraph in (command.help or "").split("\n\n"):
            assert "\n" not in paragraph, path
    monkeypatch.setenv("COLUMNS", "200")
    page = cli("pipeline", "run", "--help").stdout
    assert ("Idempotent: a re-run skips what is up to date (same data, a champion trained on it, "
            "a server running the champion).") in page
