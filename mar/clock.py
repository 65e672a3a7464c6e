"""Times as a wall clock shows them: one home for the chart's "14:05"."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

# A time typed or charted by a bedside device whose clock runs a little ahead: later than now by
# at most this is not in the future (mar.services.measures; a time typed alone, mar.forms).
CLOCK_AHEAD = timedelta(minutes=5)


def hhmm(moment: datetime, zone: tzinfo) -> str:
    """`moment` on the wall clock of `zone`: "14:05"."""
    return moment.astimezone(zone).strftime("%H:%M")


def date_hhmm(moment: datetime, zone: tzinfo) -> str:
    """`moment` with its date on the wall clock of `zone`: "2026-12-03 14:05"."""
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")
