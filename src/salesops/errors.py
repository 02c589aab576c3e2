"""The one error hierarchy. Each error carries its exit code and a one-line user message.

Exit codes (also in the README):

| code | meaning |
|------|---------|
| 0    | success |
| 1    | the command ran and found a problem (drift found, model not promoted, job failed) |
| 2    | usage or configuration error (bad flag, unknown key, wrong type); a file not writable |
| 3    | bad input data (missing file or column, failed validation) |
| 4    | a required earlier step has not run (e.g. train before `features build`) |
| 5    | an external service does not answer or refuses (database, tracking server, model server) |
| 6    | the Kubernetes cluster cannot be reached or refuses |
| 70   | internal error (a bug): traceback with `--debug` |
| 75   | the workspace is busy: another salesops command holds its lock; retry later |
"""

from __future__ import annotations


#: the exit code of a failure nobody expected (a bug); the command line adds the traceback
#: under --debug
INTERNAL_ERROR = 70


class SalesOpsError(Exception):
    """Base class: a failure we expected and can explain in one line."""

    exit_code = 1
    kind = "error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class CheckFailed(SalesOpsError):
    """The command ran correctly and its verdict is negative (drift, gate refused, job failed)."""

    exit_code = 1
    kind = "check_failed"


class ConfigError(SalesOpsError):
    exit_code = 2
    kind = "config_error"


class UsageError(SalesOpsError):
    exit_code = 2
    kind = "usage_error"


class DataError(SalesOpsError):
    exit_code = 3
    kind = "data_error"


class PreconditionError(SalesOpsError):
    """A step that this one depends on has not run yet; the hint says what to run."""

    exit_code = 4
    kind = "precondition"


class ServiceUnavailable(SalesOpsError):
    exit_code = 5
    kind = "service_unavailable"


class ClusterError(SalesOpsError):
    exit_code = 6
    kind = "cluster_error"


class WorkspaceBusy(SalesOpsError):
    """Another salesops command holds the workspace's write lock (see `workspace.locked`)."""

    exit_code = 75
    kind = "workspace_busy"

    def __init__(self, root, holder: dict) -> None:
        who = ", ".join(part for part in (
            f"pid {holder['pid']}" if holder.get("pid") else "",
            f"`{holder['command']}`" if holder.get("command") else "",
            f"since {holder['since']}" if holder.get("since") else "") if part)
        super().__init__(f"another salesops command ({who or 'unknown'}) holds the workspace "
                         f"{root}; nothing was done",
                         hint="retry when it has finished")


class WorkspaceNotWritable(SalesOpsError):
    """The workspace folder cannot be written (read-only mount, permissions, full disk)."""

    exit_code = 2
    kind = "workspace_not_writable"

    def __init__(self, root, exc: OSError) -> None:
        reason = exc.strerror or type(exc).__name__
        super().__init__(f"cannot write the workspace {root}: {reason}; nothing was done",
                         hint="check its permissions and free space, or set workspace "
                         "to another folder")
