"""Help screens: two things Typer's rich help gets wrong for this CLI, fixed once for all
commands instead of in every option declaration.

* A flag (`--json`, `--yes`, `--help`) takes no value, but Typer 0.29 prints its type as a
  `<bool>` placeholder, which reads as "give true or false". A flag shows no type here.
* Rich help keeps a docstring's source line breaks (in a group's command list, and in a
  command's page past the first paragraph), so text wrapped at 80-odd columns in the code
  breaks mid-sentence on a wider terminal and twice on a narrower one. Each paragraph
  becomes one line here, which the terminal wraps where it needs to (click's `\\b` marks a
  paragraph to keep as written).
"""

from __future__ import annotations

import inspect
from types import SimpleNamespace

import typer


def polish(command: typer.core.TyperGroup | typer.core.TyperCommand,
           help_names: tuple[str, ...] = ("-h", "--help")):
    """Fix `command` and every command below it in place; returns `command`."""
    for param in command.params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    # the help option is made on first use; make it now, from the same names, to fix it too
    # (cosmetic: should click's context grow needs, the help keeps its placeholder)
    try:
        help_option = command.get_help_option(SimpleNamespace(help_option_names=list(help_names)))
    except (AttributeError, TypeError):
        help_option = None
    if help_option is not None:
        help_option.metavar = ""
    if command.help:
        paragraphs = [paragraph if paragraph.startswith("\b") else " ".join(paragraph.split())
                      for paragraph in inspect.cleandoc(command.help).split("\n\n")]
        command.help = "\n\n".join(paragraphs)
        command.short_help = command.short_help or paragraphs[0]
    for sub in getattr(command, "commands", {}).values():
        polish(sub, help_names)
    return command
