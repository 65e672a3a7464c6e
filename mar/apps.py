import logging

from django.apps import AppConfig

log = logging.getLogger(__name__)


def _tolerate_unreadable_times() -> None:
    """A timestamp PostgreSQL holds but Python cannot (year 10000 in UTC: 9999-12-31 23:59 in a
    zone west of UTC, stored before the forms range-checked times) loads as None, logged, so one
    bad value is a missing time on its item (the engine's check names it) instead of a 500 on
    every page that reads it (issue 18, item 4). The forms refuse such times since."""
    try:
        from django.db.backends.postgresql.psycopg_any import BaseTzLoader
    except ImportError:  # psycopg 2 or no PostgreSQL driver: nothing to wrap
        return
    if getattr(BaseTzLoader.load, "_tolerant", False):
        return
    original = BaseTzLoader.load

    def load(self, data):  # type: ignore[no-untyped-def]
        try:
            return original(self, data)
        except Exception as exc:  # psycopg.DataError ("timestamp too large"), OverflowError
            log.error("unreadable timestamp %r loaded as NULL: %s", bytes(data), exc)
            return None

    load._tolerant = True  # type: ignore[attr-defined]
    BaseTzLoader.load = load


class MarConfig(AppConfig):
    name = "mar"
    verbose_name = "Medication administration record"

    def ready(self) -> None:
        _tolerate_unreadable_times()
