"""Load the per-day unit limits (CMS outpatient hospital MUE CSV) into MueLimit."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from coding.mue import MueFileError, mue_load, mue_parse

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "mue_sample.csv"


class Command(BaseCommand):
    help = "Load a CMS-format MUE CSV (default: the sample in coding/data/mue_sample.csv)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", nargs="?", default=str(SAMPLE))
        parser.add_argument(
            "--keep", action="store_true", help="keep codes that the file does not list"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["path"])
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc}") from exc
        try:
            rows = mue_parse(text)
        except MueFileError as exc:
            raise CommandError(f"{path}: {exc}; nothing loaded") from exc
        count = mue_load(rows=rows, replace=not options["keep"])
        self.stdout.write(f"Loaded {count} MUE limits from {path}")
