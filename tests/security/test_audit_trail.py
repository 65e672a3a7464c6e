"""The audit trail and the signed-record guard, on PostgreSQL (mar/audit/models.py and guard.py).

Deferred checks run at COMMIT; inside a test's transaction `SET CONSTRAINTS ALL IMMEDIATE`
makes PostgreSQL run them at that point, exactly as a commit would.
"""

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import DatabaseError, connection, transaction
from django.test import Client

from mar.audit.models import EVENTS
from mar.models import Addendum, Administration, DrugClassChange, Encounter, Order, Pause
from mar.services.signature import addendum_store, signature_store
from tests import factories

pytestmark = pytest.mark.django_db
TRIGGERS = "the audit trail and the signed-record guard are PostgreSQL's triggers"

AdministrationEvent = EVENTS[Administration]
EncounterEvent = EVENTS[Encounter]


def commit_checks() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def sql(statement: str, params: tuple[object, ...] = ()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def refused(statement: str, params: tuple[object, ...] = ()) -> str:
    """Run raw SQL and the commit-time checks in a savepoint; return PostgreSQL's refusal."""
    with pytest.raises(DatabaseError) as excinfo, transaction.atomic():
        sql(statement, params)
        commit_checks()
    return str(excinfo.value)


@pytest.fixture
def signed(nurse_user):
    encounter = factories.chemo_encounter_create()
    return signature_store(encounter=encounter, user=nurse_user)


@pytest.mark.postgresql(TRIGGERS)
def test_every_insert_update_and_delete_of_an_administration_is_recorded() -> None:
    encounter = factories.chemo_encounter_create()
    administration = encounter.administrations.get(method="push")
    administration.bag = "B7"
    administration.save()
    pk = administration.pk
    administration.delete()

    labels = list(
        AdministrationEvent.objects.filter(pgh_obj_id=pk)
        .order_by("pgh_id")
        .values_list("pgh_label", "bag")
    )
    assert labels == [("insert", ""), ("update", "B7"), ("delete", "B7")]


@pytest.mark.postgresql(TRIGGERS)
def test_every_tracked_table_has_history_triggers() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE NOT t.tgisinternal AND t.tgname LIKE 'pgtrigger_insert_insert_%'"
        )
        tables = {row[0] for row in cursor.fetchall()}
    assert {model._meta.db_table for model in EVENTS} <= tables


@pytest.mark.postgresql(TRIGGERS)
def test_a_change_made_in_a_request_names_the_user_and_url(rf, nurse_user) -> None:
    # The middleware, as settings installs it, around a view that signs.
    from django.http import HttpResponse

    from mar.audit.context import HistoryMiddleware

    encounter = factories.chemo_encounter_create()

    def view(request):
        signature_store(encounter=encounter, user=request.user)
        return HttpResponse("ok")

    request = rf.post(f"/mar/encounters/{encounter.pk}/sign/")
    request.user = nurse_user
    assert HistoryMiddleware(view)(request).status_code == 200

    event = EncounterEvent.objects.filter(pgh_obj_id=encounter.pk, pgh_label="update").get()
    assert event.status == "signed"
    assert event.pgh_context.metadata["user"] == nurse_user.pk
    assert event.pgh_context.metadata["url"] == f"/mar/encounters/{encounter.pk}/sign/"
    assert event.pgh_created_at is not None


@pytest.mark.postgresql(TRIGGERS)
def test_an_admin_finds_who_changed_a_drug_and_from_which_page(client_as, role_users) -> None:
    # A pharmacist edits a drug's HCPCS code through her page; the admin's events list shows
    # her user name and that page beside the change, not only a context id to look up.
    drug = factories.drug_get("ondansetron")
    response = client_as("pharmacist").post(
        f"/pharmacy/drugs/{drug.pk}/edit/",
        {
            "name": drug.name,
            "hcpcs": "J2405",
            "billing_unit": "1 mg",
            "container": "",
            "reason": "label: J2405 per 1 mg",
        },  # a billing data change asks its reason
    )
    assert response.status_code == 302
    admin = Client()
    admin.force_login(User.objects.create_superuser("root", password=factories.PASSWORD))
    page = admin.get("/admin/pghistory/middlewareevents/", {"event_model": "audit.drugevent"})
    assert page.status_code == 200
    rows = [
        row for row in page.content.decode().split("<tr") if "J2405" in row and "hcpcs_code" in row
    ]
    assert len(rows) == 1, rows
    assert role_users["pharmacist"].get_username() in rows[0]
    assert f"/pharmacy/drugs/{drug.pk}/edit/" in rows[0]


def test_the_history_middleware_is_installed(settings) -> None:
    middleware = settings.MIDDLEWARE
    assert "mar.audit.context.HistoryMiddleware" in middleware
    assert middleware.index("mar.audit.context.HistoryMiddleware") > middleware.index(
        "django.contrib.auth.middleware.AuthenticationMiddleware"
    )


@pytest.mark.postgresql(TRIGGERS)
def test_history_is_append_only_even_for_raw_sql() -> None:
    encounter = factories.chemo_encounter_create()
    table = AdministrationEvent._meta.db_table
    assert AdministrationEvent.objects.filter(encounter_id=encounter.pk).exists()
    assert "Cannot update or delete" in refused(f"UPDATE {table} SET bag = 'forged'")  # noqa: S608
    assert "Cannot update or delete" in refused(f"DELETE FROM {table}")  # noqa: S608


@pytest.mark.postgresql(TRIGGERS)
def test_raw_sql_cannot_update_an_administration_of_a_signed_record(signed: Encounter) -> None:
    administration = signed.administrations.first()
    message = refused(
        "UPDATE mar_administration SET stop = stop + interval '30 minutes' WHERE id = %s",
        (administration.pk,),
    )
    assert f"encounter {signed.pk} is signed" in message
    administration.refresh_from_db()
    assert Administration.objects.get(pk=administration.pk).stop == administration.stop


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM mar_administration WHERE encounter_id = %(e)s AND method = 'push'",
        "DELETE FROM mar_flush WHERE encounter_id = %(e)s",
        "INSERT INTO mar_findingacknowledgement (encounter_id, rule, administrations, field, "
        "message, reason, by_id, at) SELECT id, 'X', '', '', 'm', 'late excuse', signed_by_id, "
        "now() FROM mar_encounter WHERE id = %(e)s",
        "UPDATE mar_accesssite SET location = 'right arm' WHERE encounter_id = %(e)s",
        "UPDATE mar_order SET dose = '1 g' WHERE encounter_id = %(e)s",
        'UPDATE mar_pause SET "end" = NULL WHERE administration_id IN '
        "(SELECT id FROM mar_administration WHERE encounter_id = %(e)s)",
        "INSERT INTO mar_flush (encounter_id, site_id, at) SELECT encounter_id, id, now() "
        "FROM mar_accesssite WHERE encounter_id = %(e)s",
        "UPDATE mar_encounter SET arrived_at = arrived_at - interval '1 hour' WHERE id = %(e)s",
        "UPDATE mar_administration SET encounter_id = "
        "(SELECT min(id) FROM mar_encounter WHERE status = 'in_progress') "
        "WHERE encounter_id = %(e)s",
    ],
)
@pytest.mark.postgresql(TRIGGERS)
def test_raw_sql_cannot_change_any_row_of_a_signed_record(signed: Encounter, statement) -> None:
    factories.encounter_create()  # an unsigned one, for the move attempt
    with pytest.raises(DatabaseError, match="is signed"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(statement, {"e": signed.pk})
        commit_checks()


@pytest.mark.postgresql(TRIGGERS)
def test_a_signed_encounter_can_be_neither_deleted_nor_unsigned(signed: Encounter) -> None:
    assert "cannot be deleted" in refused("DELETE FROM mar_encounter WHERE id = %s", (signed.pk,))
    assert "signature cannot change" in refused(
        "UPDATE mar_encounter SET status = 'in_progress' WHERE id = %s", (signed.pk,)
    )
    assert "signature cannot change" in refused(
        "UPDATE mar_encounter SET signed_at = now() - interval '1 day' WHERE id = %s",
        (signed.pk,),
    )


@pytest.mark.postgresql(TRIGGERS)
def test_the_orm_is_refused_too(signed: Encounter) -> None:
    administration = signed.administrations.first()
    with pytest.raises(DatabaseError, match="is signed"), transaction.atomic():
        administration.stop = administration.stop + timedelta(minutes=5)
        administration.save()
        commit_checks()


@pytest.mark.postgresql(TRIGGERS)
def test_an_addendum_may_correct_a_signed_record_after_it_is_added(signed, nurse_user) -> None:
    administration = signed.administrations.order_by("-start").first()
    new_stop = administration.stop + timedelta(minutes=15)
    with transaction.atomic():
        addendum_store(encounter=signed, user=nurse_user, what="stop 12:30", why="late entry")
        Administration.objects.filter(pk=administration.pk).update(stop=new_stop)
        commit_checks()
    assert Administration.objects.get(pk=administration.pk).stop == new_stop


@pytest.mark.postgresql(TRIGGERS)
def test_an_addendum_may_also_come_after_the_change_in_the_same_transaction(
    signed, nurse_user
) -> None:
    pause = Pause.objects.filter(administration__encounter=signed).get()
    with transaction.atomic():
        Pause.objects.filter(pk=pause.pk).update(end=pause.end + timedelta(minutes=5))
        addendum_store(encounter=signed, user=nurse_user, what="pause to 09:55", why="correction")
        commit_checks()
    assert Pause.objects.get(pk=pause.pk).end == pause.end + timedelta(minutes=5)


@pytest.mark.postgresql(TRIGGERS)
def test_an_addendum_for_another_encounter_does_not_unlock_this_one(signed, nurse_user) -> None:
    other = signature_store(encounter=factories.chemo_encounter_create(), user=nurse_user)
    with pytest.raises(DatabaseError, match=f"encounter {signed.pk} is signed"):
        with transaction.atomic():
            addendum_store(encounter=other, user=nurse_user, what="x", why="y")
            signed.flushes.all().delete()
            commit_checks()


@pytest.mark.postgresql(TRIGGERS)
def test_addenda_are_append_only(signed, nurse_user) -> None:
    addendum = addendum_store(encounter=signed, user=nurse_user, what="a", why="b")
    assert "Cannot update or delete" in refused(
        "UPDATE mar_addendum SET why = 'nothing' WHERE id = %s", (addendum.pk,)
    )
    assert "Cannot update or delete" in refused(
        "DELETE FROM mar_addendum WHERE id = %s", (addendum.pk,)
    )
    assert Addendum.objects.get(pk=addendum.pk).why == "b"


@pytest.mark.postgresql(TRIGGERS)
def test_an_unsigned_record_is_edited_freely_and_may_be_signed_in_the_same_transaction(
    nurse_user,
) -> None:
    encounter = factories.chemo_encounter_create()
    with transaction.atomic():
        encounter.flushes.all().delete()
        Administration.objects.filter(encounter=encounter).update(bag="B1")
        signature_store(encounter=encounter, user=nurse_user)
        commit_checks()
    assert Encounter.objects.get(pk=encounter.pk).is_signed


@pytest.mark.postgresql(TRIGGERS)
def test_a_pharmacists_class_override_on_a_signed_order_needs_a_class_change_row(
    signed, pharmacist_user
) -> None:
    order = Order.objects.filter(encounter=signed).order_by("pk").last()
    assert "class changes with a DrugClassChange" in refused(
        "UPDATE mar_order SET class_override = 'therapeutic' WHERE id = %s", (order.pk,)
    )
    with transaction.atomic():
        Order.objects.filter(pk=order.pk).update(
            class_override="therapeutic", class_override_reason="not cancer"
        )
        DrugClassChange.objects.create(
            drug=order.drug,
            order=order,
            from_class=order.drug.drug_class,
            to_class="therapeutic",
            reason="not cancer",
            by=pharmacist_user,
        )
        commit_checks()
    assert Order.objects.get(pk=order.pk).class_override == "therapeutic"
    # The class change does not open the rest of the order.
    with pytest.raises(DatabaseError, match="is signed"), transaction.atomic():
        Order.objects.filter(pk=order.pk).update(dose="2 g")
        DrugClassChange.objects.create(
            drug=order.drug, order=order, to_class="chemo", reason="r", by=pharmacist_user
        )
        commit_checks()


@pytest.mark.postgresql(TRIGGERS)
def test_a_pharmacists_first_verification_of_a_signed_order_is_let_through_and_nothing_more(
    signed, pharmacist_user, admin_role_user
) -> None:
    order = Order.objects.filter(encounter=signed).order_by("pk").first()
    verify = "UPDATE mar_order SET verified_by_id = %s, verified_at = now() WHERE id = %s"
    # Verification together with any other change is a change to the record.
    assert "is signed" in refused(
        "UPDATE mar_order SET verified_by_id = %s, verified_at = now(), dose = '2 g' WHERE id = %s",
        (pharmacist_user.pk, order.pk),
    )
    with transaction.atomic():
        sql(verify, (pharmacist_user.pk, order.pk))
        commit_checks()
    assert Order.objects.get(pk=order.pk).verified_by_id == pharmacist_user.pk
    # Once verified, the verification is neither rewritten nor undone on a signed record.
    assert "is signed" in refused(verify, (admin_role_user.pk, order.pk))
    assert "is signed" in refused(
        "UPDATE mar_order SET verified_by_id = NULL, verified_at = NULL WHERE id = %s", (order.pk,)
    )


@pytest.mark.postgresql(TRIGGERS)
def test_registrations_account_number_filled_on_a_signed_visit_is_let_through_and_nothing_more(
    nurse_user,
) -> None:
    """A blank account number filled after signing (registration's, not the clinical record:
    `encounter_account_set`) passes without an addendum; with any other change, or changing a
    number already set, it is a change to the signed record."""
    encounter = factories.chemo_encounter_create(account_number="")
    signature_store(encounter=encounter, user=nurse_user)
    fill = "UPDATE mar_encounter SET account_number = %s, updated_at = now() WHERE id = %s"
    assert "is signed" in refused(
        "UPDATE mar_encounter SET account_number = 'V-1', unit = 'ED' WHERE id = %s",
        (encounter.pk,),
    )
    with transaction.atomic():
        sql(fill, ("V-7001", encounter.pk))
        commit_checks()
    assert Encounter.objects.get(pk=encounter.pk).account_number == "V-7001"
    assert "is signed" in refused(fill, ("V-7002", encounter.pk))
    assert "is signed" in refused(fill, ("", encounter.pk))


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgresql(TRIGGERS)
def test_in_autocommit_the_raw_update_fails_at_once(nurse_user) -> None:
    encounter = signature_store(encounter=factories.chemo_encounter_create(), user=nurse_user)
    with pytest.raises(DatabaseError, match="is signed"):
        sql("UPDATE mar_administration SET bag = 'X' WHERE encounter_id = %s", (encounter.pk,))
    assert not Administration.objects.filter(encounter=encounter, bag="X").exists()


@pytest.mark.postgresql(TRIGGERS)
def test_charges_made_by_the_task_name_the_task() -> None:
    from coding.models import ChargeRun
    from coding.tasks import generate_charges

    encounter = factories.chemo_encounter_create()
    generate_charges.apply(args=(encounter.pk,))  # as the worker runs it (signals included)
    run = ChargeRun.objects.get(encounter=encounter)
    event = EVENTS[ChargeRun].objects.get(pgh_obj_id=run.pk, pgh_label="insert")
    assert event.pgh_context.metadata["task"] == "coding.generate_charges"


def test_every_model_of_the_record_formulary_and_charges_is_tracked() -> None:
    from django.apps import apps

    # Derived rows record no decision: the summary cache (mar/summary.py) and the audit sweep's
    # report (coding/sweep.py) are recomputed from tracked rows.
    derived = {"EncounterSummary", "AuditSweep", "AuditSweepChunk", "AuditSweepDifference"}
    # The interface logs are themselves the trail of what came in and went out (each call to the
    # FHIR API, each HL7 message): rows written once and never edited by a user.
    logs = {"ApiCall", "InterfaceMessage"}
    models = {*apps.get_app_config("mar").get_models(), *apps.get_app_config("coding").get_models()}
    untracked = sorted(
        m.__name__ for m in models if m not in EVENTS and m.__name__ not in derived | logs
    )
    assert not untracked, f"add these to TRACKED in mar/audit/models.py: {untracked}"
