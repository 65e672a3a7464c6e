"""coding's side of the record's one port (mar/ports.py), registered in CodingConfig.ready()."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from django.db.models import QuerySet

from coding.chargemaster import charge_master_standing
from coding.corrections import queries_answer_in_words
from coding.formulary_changes import charges_refresh
from coding.models import DocumentationQuery
from coding.outbox import outbox_enqueue
from mar.models import Addendum
from mar.ports import ChargeMasterStanding, FormularyChange


class CodingChargesPort:
    def charges_owed(self, *, encounter_id: int, trigger: str, reason: str = "") -> None:
        # An outbox row in the caller's transaction: the charges are owed exactly when the
        # signature (or addendum) commits; the task is sent after commit and re-sent by beat
        # if Redis was down.
        outbox_enqueue(encounter_id=encounter_id, kind=trigger, reason=reason)

    def charges_refresh(self, *, change: FormularyChange) -> tuple[list[int], list[int]]:
        return charges_refresh(change=change)

    def open_queries(self) -> QuerySet[Any]:
        # Neither answered nor withdrawn by a coder (coding/review.py `query_withdraw`).
        return DocumentationQuery.objects.filter(
            answered_at__isnull=True, withdrawn_at__isnull=True
        )

    def queries_answered(self, *, addendum: Addendum, query_ids: Sequence[int]) -> None:
        # The nurse's word: her addendum answers these queries (in the addendum's transaction),
        # and the corrections that waited on them come back for re-review.
        queries_answer_in_words(addendum=addendum, query_ids=list(query_ids))

    def charge_master_standing(self, *, code: str, on: date) -> ChargeMasterStanding:
        # The pharmacist's question, answered by the charge master the coder's EDIT-CDM reads.
        return charge_master_standing(code=code, on=on)
