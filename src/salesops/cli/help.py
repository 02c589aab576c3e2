"""Help screens: two things Typer's rich help gets wrong for this CLI, fixed once for all
commands instead of in every option declaration.

* A flag (`--json`, `--yes`, `--help`) takes no value, but Typer 0.29 prints its type as a
  `<bool>` placeholder, which reads as "give true or false". A flag shows no type here.
* A group's command list shows each command's first docstring paragraph with its source
  line breaks kept, so a summary wrapped at 80 columns in the code breaks mid-sentence on a
  wider terminal. The summary becomes that paragraph on one line (the terminal wraps it).
"""

from __future__ import annotations

from types import SimpleNamespace

import typer


def polish(command: typer.core.TyperGroup | typer.core.TyperCommand,
           help_names: tuple[str, ...] = ("-h", "--help")):
    """Fix `command` and every command below it in place; returns `command`."""
    for param in command.params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    # the help option is made on first use; make it now, from the same names, to fix it too
    help_option = command.get_help_option(SimpleNamespace(help_option_names=list(help_names)))
    if help_option is not None:
        help_option.metavar = ""
    if command.help and not command.short_help:
        command.short_help = " ".join(command.help.split("\n\n")[0].split())
    for sub in getattr(command, "commands", {}).values():
        polish(sub, help_names)
    return command
