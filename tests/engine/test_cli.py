"""cli.py, record-format.md: `python -m coding.engine FILE | - | DIR/`: the result as JSON, exit 0
when read; exit 2 with a message naming the field and nothing on stdout for a bad record; never a
traceback."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from coding.engine.cli import main

from .records import infusion, record

ROOT = Path(__file__).resolve().parents[2]
GOOD = record(infusion("A1", minutes=91))


def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "coding.engine", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_file_prints_the_result_and_exits_0(tmp_path):
    """record-format: `python -m coding.engine RECORD.json` prints the result as JSON."""
    path = tmp_path / "r.json"
    path.write_text(json.dumps(GOOD))
    proc = cli(str(path))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert [c["code"] for c in out["charges"]] == ["96365", "96366"]


def test_stdin_prints_the_result_and_exits_0():
    """record-format: `python -m coding.engine - < RECORD.json`."""
    proc = cli("-", stdin=json.dumps(GOOD))
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["encounter"] == "ENC-T"


def test_a_bad_record_exits_2_naming_the_field_with_nothing_on_stdout():
    """record-format: exit 2, the message on stderr names the field; nothing on stdout."""
    bad = record(infusion("A1", start="2026-03-08T02:30", minutes=None, stop="2026-03-08T04:00"))
    proc = cli("-", stdin=json.dumps(bad))
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "administrations[0].start" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "garbage", ["", "{", "not json", "[1, 2]", "null", '{"format": 7}', "[" * 100000]
)
def test_garbage_exits_2_without_a_traceback(garbage):
    """record-format: a file that is not a valid record: exit 2 with a message, no traceback."""
    proc = cli("-", stdin=garbage)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip() and "Traceback" not in proc.stderr


def test_a_missing_file_exits_2(tmp_path):
    """record-format: exit 2 when the file cannot be read; a message, no traceback."""
    proc = cli(str(tmp_path / "nope.json"))
    assert proc.returncode == 2 and "cannot read" in proc.stderr


def test_a_directory_prints_one_line_per_record_and_exits_2_if_one_is_bad(tmp_path):
    """record-format: DIR/ prints one result per line (JSON Lines); a bad file: its message,
    exit 2, and the good records are still printed."""
    (tmp_path / "a.json").write_text(json.dumps(GOOD))
    (tmp_path / "b.json").write_text(json.dumps(record(infusion("A1", minutes=20))))
    (tmp_path / "c.json").write_text("{oops")
    proc = cli(f"{tmp_path}/")
    assert proc.returncode == 2
    assert len(proc.stdout.splitlines()) == 2
    assert "c.json" in proc.stderr and "Traceback" not in proc.stderr


def test_usage_without_arguments_exits_2():
    """record-format: the command takes one FILE, - or DIR/."""
    err = io.StringIO()
    sys_stderr, sys.stderr = sys.stderr, err
    try:
        assert main([]) == 2
    finally:
        sys.stderr = sys_stderr
    assert "usage" in err.getvalue()


def test_main_reads_stdin_in_process():
    """record-format: `-` reads the record from stdin (in process, no subprocess)."""
    out = io.StringIO()
    assert main(["-"], stdin=io.StringIO(json.dumps(GOOD)), stdout=out) == 0
    assert json.loads(out.getvalue())["charges"][0]["code"] == "96365"


@pytest.mark.parametrize("digits", [4301, 5000, 100_000])
def test_a_number_with_thousands_of_digits_exits_2_with_a_message(digits):
    """Issue 18.6: an integer longer than Python will read (4,300 digits) anywhere in the record
    is a bad record, not a traceback."""
    text = json.dumps(GOOD)[:-1] + ', "volume_ml": ' + "9" * digits + "}"
    proc = cli("-", stdin=text)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "too many digits" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_huge_number_in_a_directory_marks_only_that_file(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps(GOOD))
    (tmp_path / "b.json").write_text('{"format": "infusion-record/1", "n": ' + "7" * 5000 + "}")
    proc = cli(str(tmp_path))
    assert proc.returncode == 2
    assert len(proc.stdout.splitlines()) == 1
    assert "b.json" in proc.stderr and "Traceback" not in proc.stderr
