"""`predict --input`: a file is refused from its header, in one line (exit 3), before pandas,
the model or the feature store are loaded. No trained model is needed for any of these."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from salesops.features.schema import ENTITY_KEYS, MODEL_FEATURES, YEAR_FEATURES
from salesops.serving.batch_input import inspect_input
from tests.cli.test_errors import permissions_apply

HEAVY = ("pandas", "torch", "feast", "mlflow")
CORE = [name for name in MODEL_FEATURES if name not in YEAR_FEATURES]


def csv_file(path, columns, rows=1):
    path.write_text(",".join(columns) + "\n" + "".join(
        ",".join(["1"] * len(columns)) + "\n" for _ in range(rows)))
    return path


def run_isolated(*args: str) -> tuple[int, str, list[str]]:
    """Run the CLI in a fresh interpreter; exit code, stderr and the heavy modules it loaded."""
    code = ("import json, sys\nfrom salesops.cli import main\n"
            "try:\n    main(json.loads(sys.argv[1]))\nexcept SystemExit as e:\n    rc = e.code\n"
            f"print(json.dumps([rc, [m for m in {HEAVY!r} if m in sys.modules]]))\n")
    out = subprocess.run([sys.executable, "-c", code, json.dumps(list(args))], text=True,
                         capture_output=True, timeout=120)
    rc, heavy = json.loads(out.stdout.strip().splitlines()[-1])
    return rc, out.stderr, heavy


def raw(name: str, data: bytes):
    def make(folder):
        (folder / name).write_bytes(data)
        return folder / name
    return make


def columns(*names: str):
    return lambda folder: csv_file(folder / "in.csv", list(names))


@pytest.mark.parametrize(("make", "message"), [
    (columns(*ENTITY_KEYS, *[f for f in CORE if f != "sales_lag_1"]),
     "has model features but not all of them: missing sales_lag_1; give entity keys only"),
    (columns("Store", "DEPT", "sales_mean_4", "temperature"),
     "missing sales_lag_1, sales_lag_2, sales_lag_4, sales_lag_8, sales_std_4, "),
    (columns("shop", "dept"),
     "needs the columns store and dept (entity keys), or every model feature; missing store"),
    (raw("in.csv", b""), "in.csv is empty"),
    (raw("in.csv", b"\n\n"), "in.csv is empty"),
    (raw("in.csv", b"store,dept\n"), "in.csv has a header but no rows"),
    (raw("in.csv", b"PK\x03\x04\x00\x00binary"), "in.csv is not a CSV text file (it holds binary"),
    (raw("in.csv", b"store,d\xe9pt\n1,2\n"), "in.csv is not UTF-8 text (byte 0xe9 at offset 7)"),
    (raw("in.parquet", b"store,dept\n1,2\n"), "in.parquet is not a parquet file"),
])
def test_bad_files_are_refused_from_the_header_before_heavy_imports(tmp_path, make, message):
    source = make(tmp_path)
    rc, err, heavy = run_isolated("predict", "--input", str(source), "--output",
                                  str(tmp_path / "out.csv"))
    assert rc == 3, err
    assert err.count("\n") == 1 and message in err, err
    assert heavy == []
    assert not (tmp_path / "out.csv").exists()


def test_a_csv_with_a_bad_byte_past_the_header_check_is_exit_3(cli, tmp_path):
    source = tmp_path / "in.csv"
    source.write_bytes(b"store,dept\n" + b"1,2\n" * 20_000 + b"3,\xff\n")
    result = cli("predict", "--input", str(source), "--output", str(tmp_path / "out.csv"))
    assert result.exit_code == 3, result.stderr
    assert f"{source} cannot be read" in result.stderr and "internal error" not in result.stderr


def test_entity_and_feature_files_are_told_apart(tmp_path):
    keys = inspect_input(csv_file(tmp_path / "k.csv", [" Store ", "dept", "note"]),
                         tmp_path / "o.parquet")
    assert keys.mode == "entities" and keys.renames == {" Store ": "store"}
    no_year = inspect_input(csv_file(tmp_path / "f.csv", [*ENTITY_KEYS, *CORE]), tmp_path / "o.csv")
    assert no_year.mode == "features"  # the year features are the model's to ask for
    every = inspect_input(csv_file(tmp_path / "a.csv", [*ENTITY_KEYS, *MODEL_FEATURES, "x"]),
                          tmp_path / "o.csv")
    assert every.mode == "features" and every.renames == {}


def test_cr_only_line_endings_are_a_csv(tmp_path):
    source = tmp_path / "cr.csv"
    source.write_bytes(b"store,dept\r1,2\r")
    assert inspect_input(source, tmp_path / "o.csv").mode == "entities"


@pytest.mark.skipif(not permissions_apply(), reason="this user ignores file permissions (root)")
def test_an_output_that_cannot_be_written_is_refused_before_scoring(cli, tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        result = cli("predict", "--input", str(csv_file(tmp_path / "k.csv", ["store", "dept"])),
                     "--output", str(folder / "out.csv"))
    finally:
        folder.chmod(0o755)
    assert result.exit_code == 2
    assert result.stderr == f"error: cannot write {folder / 'out.csv'}: Permission denied\n"


def test_an_output_in_a_place_no_file_can_be_made_is_refused_before_scoring(cli, tmp_path):
    """/proc: writable by permissions for root, but no file can be created there (was 70)."""
    target = Path("/proc/salesops-out.csv")
    result = cli("predict", "--input", str(csv_file(tmp_path / "k.csv", ["store", "dept"])),
                 "--output", str(target))
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith(f"error: cannot write {target}: ")
    assert len(result.stderr.splitlines()) == 1
