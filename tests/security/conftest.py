"""A small world with one object of every kind a URL can name, in two encounters."""

from dataclasses import dataclass

import pytest
from django.contrib.auth.models import User

from coding.models import (
    AuditSweep,
    ChargeCorrection,
    ChargeLine,
    ChargeRun,
    DocumentationQuery,
    Export,
)
from coding.services import charge_run_generate
from mar import roles
from mar.models import (
    AccessSite,
    Administration,
    BarcodeScan,
    Drug,
    Encounter,
    Flush,
    InterfaceMessage,
    Order,
    Pause,
    Payer,
    RateChange,
)
from tests import factories


@dataclass
class World:
    users: dict[str, User]
    encounter: Encounter
    other: Encounter
    export: Export
    sweep: AuditSweep
    interface_message: InterfaceMessage
    payer: Payer

    def sample(self, encounter: Encounter) -> dict[str, object]:
        """A value for every URL argument, taken from `encounter`."""
        site = AccessSite.objects.filter(encounter=encounter).order_by("pk").first()
        order = Order.objects.filter(encounter=encounter).order_by("-pk").first()
        adm = Administration.objects.filter(encounter=encounter).order_by("-pk").first()
        pause = Pause.objects.filter(administration__encounter=encounter).first()
        flush = Flush.objects.filter(encounter=encounter).order_by("pk").first()
        if flush is None and site is not None:  # mar:flush_remove removed it: chart another
            flush = Flush.objects.create(encounter=encounter, site=site, at=site.placed_at)
        rate = RateChange.objects.filter(administration__encounter=encounter).first()
        # mar:rate_remove removed it: chart another (a signed record takes none but by addendum)
        if rate is None and adm is not None and not encounter.is_signed:
            rate = RateChange.objects.create(
                administration=adm, at=adm.start, rate_ml_h=100, reason="sample",
                by=self.users[roles.NURSE],
            )  # fmt: skip
        run = ChargeRun.objects.filter(encounter=encounter, is_current=True).first()
        line = ChargeLine.objects.filter(run=run).order_by("pk").first()
        assert site and order and adm and pause and flush and line
        scan = BarcodeScan.objects.filter(encounter=encounter).order_by("pk").first()
        if scan is None:  # a stop to override (issue 17)
            scan = BarcodeScan.objects.create(
                encounter=encounter, kind="drug", raw="312345678906", result="wrong_drug",
                message="Wrong drug", by=self.users[roles.ADMIN],
            )  # fmt: skip
        correction = ChargeCorrection.objects.filter(run=run).first()
        if correction is None:  # one waiting for re-review, for coding:correction_resolve, _undo
            correction = ChargeCorrection.objects.create(
                run=run, line=line, action="remove", original={"code": line.code},
                reason="sample", by=User.objects.order_by("pk").first(),
                state=ChargeCorrection.State.NEEDS_REVIEW,
            )  # fmt: skip
        query = DocumentationQuery.objects.filter(encounter=encounter).order_by("pk").first()
        if query is None:  # a coder's query, for coding:query_withdraw
            query = DocumentationQuery.objects.create(
                encounter=encounter, run=run, rule="", question="sample",
                asked_by=User.objects.order_by("pk").first(),
            )  # fmt: skip
        return {
            "pk": encounter.pk,
            "site_pk": site.pk,
            "order_pk": order.pk,
            "adm_pk": adm.pk,
            "pause_pk": pause.pk,
            "flush_pk": flush.pk,
            "rate_pk": rate.pk if rate is not None else 0,
            "scan_pk": scan.pk,
            "line_id": line.pk,
            "correction_id": correction.pk,
            "query_id": query.pk,
            "fmt": "csv",
        }


@pytest.fixture
def world(role_users: dict[str, User]) -> World:
    return world_create(role_users)


def world_create(role_users: dict[str, User]) -> World:
    admin = role_users[roles.ADMIN]
    admin.is_superuser = True  # as `manage.py demo` makes the admin: the admin site needs it
    admin.save(update_fields=["is_superuser"])
    encounter = factories.chemo_encounter_create()
    other = factories.chemo_encounter_create()
    for each in (encounter, other):
        # a rate change charted while the record is open, for the rate rows' routes
        adm = Administration.objects.filter(encounter=each).order_by("pk").first()
        if adm is not None:
            RateChange.objects.create(
                administration=adm, at=adm.start, rate_ml_h=100, reason="sample",
                by=role_users[roles.NURSE],
            )  # fmt: skip
        charge_run_generate(encounter_id=each.pk)
    export = Export.objects.create(
        created_by=role_users[roles.CODER], csv_text="a,b\n", hl7_text="MSH|", fhir_json="{}"
    )
    sweep = AuditSweep.objects.create(
        created_by=role_users[roles.CODER], date_from=factories.MORNING.date(),
        date_to=factories.MORNING.date(), policy={}, policy_label="sample",
    )  # fmt: skip
    assert Drug.objects.exists()
    # A failed HL7 message (unknown patient), for the interface log's pages.
    interface_message = InterfaceMessage.objects.create(
        control_id="SEC1",
        message_type="ADT^A08",
        version="2.5.1",
        raw="MSH|^~\\&|REG|H|MAR|I|20260302||ADT^A08|SEC1|P|2.5.1\rPID|1||NOBODY",
        outcome=InterfaceMessage.Outcome.ERROR,
    )
    return World(
        users=role_users,
        encounter=encounter,
        other=other,
        export=export,
        interface_message=interface_message,
        sweep=sweep,
        payer=Payer.objects.create(name="Security Payer", financial_class="commercial"),
    )
