"""Load CMS's NCCI PTP edits for hospital outpatient services into PtpEdit (all or nothing)."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from coding.ptp import PtpFileError, ptp_load, ptp_parse

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "ptp_sample.txt"


class Command(BaseCommand):
    help = (
        "Load a CMS-format NCCI PTP file (tab-delimited or CSV; default: the sample in "
        "coding/data/ptp_sample.txt). The pairs replace those loaded before."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", nargs="?", default=str(SAMPLE))

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["path"])
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read {path}: {exc}") from exc
        try:
            rows = ptp_parse(text)
        except PtpFileError as exc:
            raise CommandError(f"{path}: nothing loaded; {exc}") from exc
        count = ptp_load(rows=rows)
        self.stdout.write(f"Loaded {count} PTP pairs from {path}")
