"""`python -m coding.engine FILE | - | DIR/` (record-format.md).

Prints the result as JSON (one line per record for a directory). Exit 0 when every record was read,
2 when one is not a valid record: the message on stderr names the file and field, and nothing is
printed on stdout for that record. Never a traceback for bad input.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TextIO

from .charges import code_record
from .reading import RecordError, parse_record

USAGE = "usage: python -m coding.engine RECORD.json | - | DIR/"


def _code(text: str) -> dict[str, Any]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecordError("record", f"not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise RecordError("record", "nested too deeply") from None
    except ValueError:
        # Python refuses to read an integer of more than 4,300 digits (int_max_str_digits).
        raise RecordError("record", "a number in it has too many digits to be a value") from None
    return code_record(parse_record(document)).to_json()


def main(argv: list[str], stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr)
        return 2 if len(argv) != 1 else 0
    target = argv[0]
    try:
        if target == "-":
            stdout.write(json.dumps(_code(stdin.read()), indent=2) + "\n")
            return 0
        path = Path(target)
        if path.is_dir():
            status = 0
            for file in sorted(path.glob("*.json")):
                try:
                    stdout.write(json.dumps(_code(file.read_text(encoding="utf-8"))) + "\n")
                except RecordError as exc:
                    print(f"{file}: {exc.field}: {exc.message}", file=sys.stderr)
                    status = 2
                except (OSError, UnicodeDecodeError) as exc:
                    print(f"{file}: cannot read: {exc}", file=sys.stderr)
                    status = 2
            return status
        stdout.write(json.dumps(_code(path.read_text(encoding="utf-8")), indent=2) + "\n")
        return 0
    except RecordError as exc:
        print(f"{target}: {exc.field}: {exc.message}", file=sys.stderr)
        return 2
    except (OSError, UnicodeDecodeError) as exc:
        print(f"{target}: cannot read: {exc}", file=sys.stderr)
        return 2
