"""The engine's shared vocabulary: what the record's words mean to every rule family.

Each term is defined once here and asked by the checks (checks.py), the classification of
administrations (classify.py), the hierarchy (hierarchy.py) and hydration (hydration.py).
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from .codes import NOT_A_SEPARATE_SITE_REASON
from .record import Administration, Site

VASCULAR_ROUTES = ("iv", "ia")

# Errors that stop the administration from being charged at all. RAC-7 is not here: an infusion
# with no stop is still codable as a push, which `classify.py` decides.
BLOCKING_RULES = frozenset({"RAC-1", "RAC-2", "RAC-3", "RAC-8", "DOC-3", "DOC-4"})


# The same moments are named again and again (a flush between two drugs, the next drug's start),
# and converting to the zone is slow: each (moment, zone) is converted once.
_CLOCKS: dict[tuple[datetime, str], str] = {}
_CLOCK_CACHE_LIMIT = 50_000


def hhmm(moment: datetime, zone_key: str) -> str:
    key = (moment, zone_key)
    found = _CLOCKS.get(key)
    if found is None:
        local = moment.astimezone(ZoneInfo(zone_key))
        found = f"{local.hour:02d}:{local.minute:02d}"
        if len(_CLOCKS) >= _CLOCK_CACHE_LIMIT:
            _CLOCKS.clear()
        _CLOCKS[key] = found
    return found


def date_hhmm(moment: datetime, zone_key: str) -> str:
    """`moment` with its date on the wall clock of `zone_key`: "2025-12-08 00:10", as the chart's
    time fields are typed. For messages naming a time against now or another time: "00:10"
    alone is ambiguous near midnight and on a visit of several days (bedside finding 2)."""
    return f"{moment.astimezone(ZoneInfo(zone_key)):%Y-%m-%d} {hhmm(moment, zone_key)}"


def number_of(n: int, word: str, plural: str = "") -> str:
    """A count with its noun in the number it takes: '1 additional hour', '2 additional hours'
    (a charge's reason is read by coders: words, not '(s)')."""
    return f"{n} {word if n == 1 else plural or word + 's'}"


def is_vascular(adm: Administration) -> bool:
    """IV, intra-arterial and SQ infusions need a named access site (RAC-4)."""
    return adm.route in VASCULAR_ROUTES or (adm.route == "sq" and adm.method == "infusion")


def carries_no_charge(adm: Administration) -> bool:
    """The vehicle that carries a drug and the fluid that keeps a vein open are never charged."""
    return adm.purpose in ("vehicle", "kvo") and may_be_fluid(adm)


def may_be_fluid(adm: Administration) -> bool:
    """A purpose (hydration, vehicle, KVO) is a fluid's: a drug tagged otherwise is coded as the
    drug it is, and the purpose is a charting slip (RAC-2 warns)."""
    return adm.drug_class is None or adm.drug_class == "hydration"


def is_documented_separate_site(site: Site) -> bool:
    """A reason that shows medical necessity; a restart, a second lumen or convenience do not."""
    return site.separate_site_reason is not None and _shows_necessity(site.separate_site_reason)


@lru_cache(maxsize=1024)  # sites repeat their reasons; the words need reading once
def _shows_necessity(reason: str) -> bool:
    words = reason.strip().lower()
    return bool(words) and not any(word in words for word in NOT_A_SEPARATE_SITE_REASON)
