"""Load the hospital's charge master (CSV: code, revenue_code, description, unit_price)."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from coding.chargemaster import ChargeMasterFileError, charge_master_load, charge_master_parse

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "charge_master_sample.csv"


class Command(BaseCommand):
    help = (
        "Load a charge master CSV, all or nothing (default: the sample in "
        "coding/data/charge_master_sample.csv)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", nargs="?", default=str(SAMPLE))
        parser.add_argument(
            "--keep", action="store_true", help="keep codes that the file does not list"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["path"])
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read {path}: {exc}") from exc
        try:
            rows = charge_master_parse(text)
        except ChargeMasterFileError as exc:
            raise CommandError(f"{path}: nothing loaded; {exc}") from exc
        count = charge_master_load(rows=rows, replace=not options["keep"])
        self.stdout.write(f"Loaded {count} charge master codes from {path}")
