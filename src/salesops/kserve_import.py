"""Import kserve without letting it read our command line.

`kserve.model_server` parses `sys.argv` with its own argparse parser when it is imported
(`--http_port`, `--workers`, `--model_name`, ...); salesops' options are none of its
business, and a clash would change the server's settings or exit. Import kserve through
this module: it hides the arguments for the duration of the import.
"""

from __future__ import annotations

import sys

_argv = sys.argv
sys.argv = sys.argv[:1]
try:
    import kserve  # noqa: F401
    import kserve.model_server  # noqa: F401
finally:
    sys.argv = _argv
