"""Load the hospital's charge master (CSV: code, revenue_code, description, unit_price) as the
prices in effect from a date (coding/chargemaster.py)."""

import getpass
from datetime import date
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from coding.chargemaster import ChargeMasterFileError, charge_master_import
from coding.models import ChargeMasterUpload

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "charge_master_sample.csv"


def effective_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(f"--effective-from {text!r} is not a date like 2026-07-01") from exc


def _system_user() -> str:
    """The account running the command, for the upload's record (no signed-in user here)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for the uid (a bare container)
        return ""


class Command(BaseCommand):
    help = (
        "Load a charge master CSV, all or nothing, as the prices in effect from a date "
        "(default: the sample in coding/data/charge_master_sample.csv, from today)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", nargs="?", default=str(SAMPLE))
        parser.add_argument(
            "--keep", action="store_true", help="keep codes that the file does not list"
        )
        parser.add_argument(
            "--effective-from",
            metavar="YYYY-MM-DD",
            help="the first date of service these prices apply to (default: today in the "
            "hospital's zone; the first load of all: every date). A date on or before a billed "
            "line's date of service re-prices it: the next export credits and re-bills it",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["path"])
        effective = options.get("effective_from")
        when = effective_date(effective) if effective else None
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc}") from exc
        try:
            load = charge_master_import(
                data=data,
                effective_from=when,
                replace=not options["keep"],
                source=path.name,
                via=ChargeMasterUpload.Via.COMMAND,
                system_user=_system_user(),
            )
        except ChargeMasterFileError as exc:
            raise CommandError(f"{path}: nothing loaded; {exc}") from exc
        self.stdout.write(f"Loaded {path}: {load.summary()}")
