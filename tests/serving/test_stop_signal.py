"""A stop signal is never swallowed: SIGTERM while the server loads ends it, wherever it lands
(found: inside the scorer's fast-path probe, an `except Exception` turned it into a warning
and the server went on serving, untracked, after its `serve deploy` had been killed)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from tests.helpers import free_port

#: SIGTERM arrives while pyfunc.predict runs inside the fast-path probe
SCRIPT = textwrap.dedent("""
    import os, signal, sys
    from salesops.serving import scorer

    original = scorer.Scorer.enable_fast_path

    def probe_with_a_signal(self, rows):
        real = self.pyfunc.predict
        unwrap = self.pyfunc.unwrap_python_model

        def predict(frame):
            os.kill(os.getpid(), signal.SIGTERM)
            return real(frame)

        self.pyfunc = type("Wrapped", (), {"predict": staticmethod(predict),
                                           "unwrap_python_model": unwrap})()
        return original(self, rows)

    scorer.Scorer.enable_fast_path = probe_with_a_signal
    from salesops.cli import main
    main(["serve", "run", "--port", sys.argv[1]])
""")


@pytest.mark.slow
def test_sigterm_while_loading_ends_the_server(serving_env):
    port = str(free_port())
    server = subprocess.run([sys.executable, "-c", SCRIPT, port], env={**os.environ},
                            capture_output=True, text=True, timeout=120)
    assert server.returncode == 0, server.stderr
    assert "model server stopped" in server.stderr
    assert "serving on" not in server.stderr
