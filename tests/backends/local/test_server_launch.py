"""How a local model server's start-up error reaches `serve deploy`: a JSON record on a
pipe, raised again in the deployer as the same kind of error with the same exit code."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from salesops.backends.local.server_launch import read_error, rebuild, write_error
from salesops.errors import (
    ConfigError,
    PreconditionError,
    SalesOpsError,
    ServiceUnavailable,
    WorkspaceBusy,
)

LOG = Path("/ws/logs/serve-1.log")


def carried(exc: SalesOpsError) -> SalesOpsError:
    read, write = os.pipe()
    try:
        write_error(write, exc)  # closes `write`
        record = read_error(read)
    finally:
        os.close(read)
    assert record is not None
    return rebuild(record, LOG)


@pytest.mark.parametrize("error", [
    PreconditionError("no champion version of model 'm' to serve",
                      hint="run `salesops train submit` first"),
    ConfigError("serving.port: must be at most 65535"),
    ServiceUnavailable("the tracking store does not answer"),
])
def test_the_error_keeps_its_class_exit_code_and_hint(error):
    again = carried(error)
    assert type(again) is type(error)
    assert again.exit_code == error.exit_code and again.kind == error.kind
    assert again.hint == error.hint
    assert again.message == f"the model server could not start: {error.message}; log: {LOG}"


def test_a_class_with_its_own_constructor_is_rebuilt_too():
    again = carried(WorkspaceBusy("/ws", {"pid": 12, "command": "serve deploy"}))
    assert isinstance(again, WorkspaceBusy) and again.exit_code == 75
    assert "pid 12" in again.one_line()


def test_an_unknown_kind_keeps_its_name_and_exit_code():
    again = rebuild({"error": "it broke", "type": "ray_error", "exit_code": 9, "hint": None}, LOG)
    assert type(again) is SalesOpsError
    assert (again.kind, again.exit_code, again.hint) == ("ray_error", 9, None)


def test_no_record_when_the_server_wrote_none_or_garbage():
    read, write = os.pipe()
    os.close(write)
    assert read_error(read) is None  # exited without a word (killed)
    os.close(read)
    read, write = os.pipe()
    os.write(write, b"Traceback (most recent call last):\n")
    os.close(write)
    assert read_error(read) is None
    os.close(read)


def test_a_server_whose_deployer_is_gone_still_exits_with_its_error():
    read, write = os.pipe()
    os.close(read)
    write_error(write, ConfigError("bad"))  # EPIPE: nobody to tell, and no exception


def test_an_unexpected_error_travels_as_the_internal_error_it_is():
    """Not a SalesOpsError (a parser's error on a damaged file, a bug): `serve deploy` said
    only "exited during start-up (exit code 70)", exit 1."""
    again = carried(ValueError("while parsing a flow sequence"))
    assert again.exit_code == 70 and again.kind == "internal_error"
    assert again.message.startswith("the model server could not start: internal error: "
                                    "ValueError: while parsing a flow sequence; log: ")
    assert again.hint == "the server's log has the traceback"
