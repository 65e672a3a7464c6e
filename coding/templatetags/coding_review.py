"""Template tags for other screens that show the coders' work (the nurse's chart)."""

from django import template

from coding.models import ChargeOutbox, ChargeRun, DocumentationQuery
from coding.review import EffectiveLine, effective_lines
from coding.review import addenda_since as _addenda_since
from coding.review import open_queries as _open_queries
from mar.models import Addendum

register = template.Library()


@register.simple_tag
def open_queries(encounter: object) -> list[DocumentationQuery]:
    """The encounter's unanswered documentation queries, oldest first (one query)."""
    pk = getattr(encounter, "pk", None)
    return [] if pk is None else _open_queries(pk)


@register.simple_tag
def addenda_since(query: DocumentationQuery, addenda: object = None) -> list[Addendum]:
    """The addenda written since an open query was asked: they did not answer it. `addenda`:
    the encounter's, when the page read them (the chart does); read here otherwise."""
    if not isinstance(addenda, list | tuple):
        addenda = list(Addendum.objects.filter(encounter_id=query.encounter_id))
    return _addenda_since(query, list(addenda))


@register.simple_tag
def current_charge_run(encounter: object) -> ChargeRun | None:
    """The encounter's current charge run (lines and findings prefetched), or None (not yet
    generated): the nurse's chart shows it (templates/mar/_chart_charges.html)."""
    pk = getattr(encounter, "pk", None)
    if pk is None:
        return None
    return (
        ChargeRun.objects.filter(encounter_id=pk, is_current=True)
        .prefetch_related("lines", "findings")
        .first()
    )


@register.simple_tag
def charges_pending(encounter: object) -> bool:
    """Charges are owed to the encounter and not made yet (a signature or a change to the signed
    record whose charge run the worker has not stored: coding/outbox.py). One query."""
    pk = getattr(encounter, "pk", None)
    return pk is not None and ChargeOutbox.objects.filter(encounter_id=pk, done_at=None).exists()


@register.simple_tag
def charge_lines(run: ChargeRun, corrected: object = False) -> list[EffectiveLine] | list[object]:
    """The run's lines: as the engine made them, or (`corrected`) as they will be sent, the
    coders' corrections applied (removed lines left out; each changed line has `correction`)."""
    if corrected:
        return list(effective_lines(run))
    return list(run.lines.all())
