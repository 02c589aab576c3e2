"""What a person reads after `features build` (SMALL data, built once for the module) and
from the commands that read its workspace, asserted exactly; only the workspace path and
elapsed times are normalized (tests/helpers.py). A terminal 200 columns wide: no wrapping.

Slow: the build's `feast apply` alone takes about 5 s.
"""

import contextlib
import io

import pytest

from salesops.cli import main
from tests.cli.test_command_output import NO_TRACKING_STORE
from tests.conftest import SMALL
from tests.helpers import fixed_workspace, normalize, only_env, text

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built():
    """(workspace, exit code, stdout, stderr) of `infra up` then `features build` SMALL."""
    with fixed_workspace() as ws, only_env(ws.parent, {
            "SALESOPS_PROJECT__WORKSPACE": str(ws), "COLUMNS": "200", "TQDM_DISABLE": "1"}):
        assert _run("-q", "infra", "up")[0] == 0
        yield ws, *_run("features", "build", *SMALL)


def _run(*args: str) -> tuple[int, str, str]:
    """In-process, as the `cli` fixture does, for a fixture wider than one test (which
    cannot use capsys)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as exit_info:
            return int(exit_info.code or 0), out.getvalue(), err.getvalue()
    raise AssertionError("main() returned instead of exiting")


@pytest.fixture
def exact(cli, built, monkeypatch):
    """As tests/cli/conftest.py `exact`, on the built workspace, 200 columns wide."""
    ws = built[0]
    monkeypatch.setenv("SALESOPS_PROJECT__WORKSPACE", str(ws))
    monkeypatch.setenv("COLUMNS", "200")

    def run(*args: str) -> tuple[int, str, str]:
        result = cli(*args)
        return (result.exit_code, normalize(result.stdout, ws=ws),
                normalize(result.stderr, ws=ws))

    return run


# the summary's width follows its `time` row (`apply 12.3s` is wider than `apply 4.9s`):
# compared squeezed (tests/helpers.py `normalize`); the data report below it exactly
SUMMARY = text('''
    features build
    ┏━┳━┓
    ┃ ┃ ┃
    ┡━╇━┩
    │ series data │ 1,080 rows: 3 stores × 4 depts × 90 weeks │
    │ weeks │ 2023-01-06 … 2024-09-20 │
    │ online row for week │ 2024-09-27 │
    │ online series │ 12 │
    │ offline dept_weekly │ 996 rows │
    │ offline store_weekly │ 249 rows │
    │ offline sales_target │ 984 rows │
    │ fingerprint │ d7fc9ee004316332 │
    │ time │ load 0.0s engineer 0.0s validate 0.0s apply 0.0s online 0.0s write 0.0s │
    └─┴─┘
    ''')

REPORT = text('''
    data report: 1,080 rows read, 1,080 after the policies (missing_weeks = zero, negative_sales = keep, missing_markdown = unknown, ended_after_weeks = 4)
    ┏━━━━━━━━━━━━┳━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┓
    ┃ quirk      ┃ count    ┃ what was done (examples: --json) ┃
    ┡━━━━━━━━━━━━╇━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┩
    │ zero_weeks │ 108 rows │ kept: an observation             │
    └────────────┴──────────┴──────────────────────────────────┘
    ''')  # noqa: E501 - one line on a 200-column terminal

PROGRESS = "".join(f"   0.0s {line}\n" for line in [
    "data: 1,080 rows read, 1,080 after the data policies: 12 series, 3 stores × 4 depts × "
    "90 weeks (synthetic, seed 42)",
    "features: dept_weekly 996, store_weekly 249, sales_target 984 rows engineered and "
    "validated",
    "feast apply: 7 objects registered (no registry yet)",
    "wrote the week of 2024-09-27 for 12 series online",
])


def test_features_build(built):
    ws, code, out, err = built
    summary, _, report = out.partition("data report:")
    assert code == 0, err
    assert normalize(summary, squeeze=True, ws=ws) == SUMMARY
    assert normalize("data report:" + report, ws=ws) == REPORT
    assert normalize(err, ws=ws) == PROGRESS


STATUS_BUILT = text('''
    local infrastructure at <ws>
    ┏━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┓
    ┃ component          ┃ kind              ┃ state   ┃ detail                                             ┃
    ┡━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┩
    │ workspace          │ directory         │ present │ <ws>                                               │
    │ feature_store.yaml │ feature repo file │ present │                                                    │
    │ registry           │ sqlite            │ present │ 3 feature views, 2 feature services                │
    │ offline store      │ parquet + duckdb  │ present │ dept_weekly, sales_target, series, store_weekly    │
    │ online store       │ sqlite            │ present │ 0.1 MB                                             │
    │ features build     │ manifest          │ present │ next week 2024-09-27, fingerprint d7fc9ee004316332 │
    └────────────────────┴───────────────────┴─────────┴────────────────────────────────────────────────────┘
    ''')  # noqa: E501


def test_infra_status_after_the_build(exact):
    assert exact("infra", "status") == (0, STATUS_BUILT, "")


def test_drift_with_features_and_no_model(exact):
    assert exact("drift") == (
        4, "", "   0.0s drift: comparing reference and current windows\n" + NO_TRACKING_STORE)


def test_models_list_with_features_and_no_model(exact):
    assert exact("models", "list") == (4, "", NO_TRACKING_STORE)
