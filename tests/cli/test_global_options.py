"""`split_global_options`: the global options are taken out of argv wherever they stand
(before, between or after the command words), so `salesops infra status --json` works;
everything else is left, in order, for click."""

import pytest

from salesops.cli import split_global_options

FLAGS = [("--json", {"json": True}), ("--debug", {"debug": True}),
         ("--quiet", {"quiet": True}), ("-q", {"quiet": True})]


@pytest.mark.parametrize(("flag", "found"), FLAGS)
@pytest.mark.parametrize("where", [0, 1, 2, 3])
def test_a_flag_is_found_anywhere(flag, found, where):
    argv = ["train", "submit", "--epochs"]
    argv.insert(where, flag)
    assert split_global_options([*argv, "2"]) == (found, ["train", "submit", "--epochs", "2"])


@pytest.mark.parametrize("option", ["--config", "-c"])
@pytest.mark.parametrize("where", [0, 1, 2])
def test_a_config_path_is_found_anywhere(option, where):
    argv = ["infra", "status"]
    argv[where:where] = [option, "my.toml"]
    assert split_global_options(argv) == ({"config": "my.toml"}, ["infra", "status"])


@pytest.mark.parametrize("where", [0, 1, 2])
def test_config_equals_path(where):
    argv = ["infra", "status"]
    argv.insert(where, "--config=a=b.toml")  # only the first `=` separates
    assert split_global_options(argv) == ({"config": "a=b.toml"}, ["infra", "status"])


def test_config_equals_nothing_is_an_empty_path():
    assert split_global_options(["--config=", "infra"]) == ({"config": ""}, ["infra"])


def test_all_of_them_together():
    argv = ["-q", "infra", "--config", "c.toml", "up", "--json", "--debug"]
    assert split_global_options(argv) == (
        {"quiet": True, "config": "c.toml", "json": True, "debug": True}, ["infra", "up"])


def test_a_config_value_that_looks_like_a_command_is_the_value():
    assert split_global_options(["--config", "infra", "status"]) == (
        {"config": "infra"}, ["status"])


def test_a_config_value_that_looks_like_an_option_is_the_value():
    assert split_global_options(["-c", "--json", "infra"]) == ({"config": "--json"}, ["infra"])


@pytest.mark.parametrize("option", ["--config", "-c"])
def test_config_without_a_value_is_left_for_click_to_report(option):
    assert split_global_options(["infra", "status", option]) == ({}, ["infra", "status", option])


def test_the_last_config_wins_and_repeated_flags_are_one():
    argv = ["--json", "-c", "a.toml", "infra", "--json", "--config=b.toml", "status", "-q",
            "--quiet"]
    assert split_global_options(argv) == (
        {"json": True, "config": "b.toml", "quiet": True}, ["infra", "status"])


def test_after_a_double_dash_nothing_is_taken():
    argv = ["--json", "serve", "run", "--", "--debug", "-q", "--config", "x.toml"]
    assert split_global_options(argv) == (
        {"json": True}, ["serve", "run", "--", "--debug", "-q", "--config", "x.toml"])


@pytest.mark.parametrize("argv", [
    ["--version"], ["--help"], ["-h"], ["infra", "up", "--help"],
    ["--jsonl", "infra"], ["--Json"], ["-j"], ["-qq"], ["--config-file", "x"],
    ["--quiet=yes"], ["-cfoo.toml"],         # attached forms click would parse: not ours
    ["train", "submit", "--nodes", "2"],
])
def test_other_arguments_are_left_alone_in_order(argv):
    assert split_global_options(argv) == ({}, argv)


def test_a_global_flag_is_taken_even_where_a_commands_value_would_stand():
    assert split_global_options(["predict", "--store", "--json"]) == (
        {"json": True}, ["predict", "--store"])


def test_nothing_in_nothing_out():
    assert split_global_options([]) == ({}, [])


def test_argv_is_not_changed():
    argv = ["--json", "infra", "status"]
    split_global_options(argv)
    assert argv == ["--json", "infra", "status"]
