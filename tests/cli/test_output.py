"""Human tables: whole paths, and ids (pids, ports, versions) without thousands separators."""

import io
import re

from rich.console import Console

from salesops.cli.output import Output

LOG = "/home/someone/projects/retail-forecasting/.salesops/logs/model-server-2024-09-27.log"


def render(table, width: int = 60) -> str:
    console = Console(file=io.StringIO(), width=width, highlight=False, soft_wrap=True)
    console.print(table)
    return console.file.getvalue()


def test_a_long_path_is_folded_not_truncated():
    text = render(Output().table("model server", ["", ""], [("log", LOG), ("pid", 17726)]))
    assert "…" not in text
    assert LOG in re.sub(r"[│\s]", "", text)


def test_integers_are_ids_not_amounts():
    text = render(Output().table(None, ["pid", "port", "version"], [(17726, 18080, 12)]), 80)
    assert "17726" in text and "18080" in text and "17,726" not in text


def test_floats_keep_their_readable_form():
    text = render(Output().table(None, ["a", "b"], [(0.123456, 123456.7)]), 80)
    assert "0.1235" in text and "123,457" in text


def test_messages_on_stderr_are_masked(capsys):
    output = Output()
    output.info("connecting to postgresql://u:pw1@db/x")
    output.step("uploading to https://b.s3/m?X-Amz-Signature=pw2")
    output.warn("redis://:pw3@cache:6379/0 is slow")
    output.error("http://u:pw4@mlflow:5000 does not answer")
    err = capsys.readouterr().err
    assert not any(f"pw{i}" in err for i in range(1, 5)), err
    assert "postgresql://u:***@db/x" in err and "redis://:***@cache:6379/0" in err


def test_messages_with_markup_like_text_print_as_written(capsys):
    """A step or warning quoting `[/x]` (a path, a log line) is text, not rich markup: it
    raised MarkupError (exit 70) before."""
    output = Output()
    output.step("reading [/x] and [bold]not bold[/bold]")
    output.warn("column [/weekly_sales] is odd")
    err = capsys.readouterr().err
    assert "reading [/x] and [bold]not bold[/bold]" in err
    assert "warning: column [/weekly_sales] is odd" in err


def test_manifests_are_yaml_documents_or_one_json_list(capsys):
    objects = [{"kind": "A", "metadata": {"name": "a"}}, {"kind": "B"}]
    Output().manifests(objects)
    assert capsys.readouterr().out == "---\nkind: A\nmetadata:\n  name: a\n---\nkind: B\n"
    Output(json_mode=True).manifests(objects)
    import json

    assert json.loads(capsys.readouterr().out) == {"apiVersion": "v1", "kind": "List",
                                                   "items": objects}


def test_lines_stream_to_stdout_as_they_come(capsys):
    Output().lines(iter(["first", "second"]))
    assert capsys.readouterr().out == "first\nsecond\n"


def test_a_table_title_with_markup_like_text_prints_as_written():
    """`infra up` on the workspace `/tmp/ws[/x]` did its work, then exited 70 (MarkupError):
    the cells were escaped, the title was not."""
    text = render(Output().table("workspace /tmp/ws[/x] [bold]", ["", ""], [("a", "b")]), 80)
    assert "workspace /tmp/ws[/x] [bold]" in text
