from django.urls import reverse

from coding.services import charge_run_generate
from mar import roles
from mar.models import Encounter
from tests import factories


def test_worklist_lists_signed_encounters_with_charges_and_findings(client_as) -> None:
    signed = factories.chemo_encounter_create(status=Encounter.Status.SIGNED)
    charge_run_generate(encounter_id=signed.pk)
    open_one = factories.chemo_encounter_create()
    response = client_as(roles.CODER).get(reverse("coding:worklist"))
    page = response.content.decode()
    assert signed.patient.name in page
    assert open_one.patient.name not in page
    assert "96413" in page


def test_worklist_queries_stay_fixed(client_as, django_assert_max_num_queries) -> None:
    client = client_as(roles.CODER)
    for _ in range(8):
        encounter = factories.chemo_encounter_create(status=Encounter.Status.SIGNED)
        charge_run_generate(encounter_id=encounter.pk)
    # 14 at most: the session, the user and their groups; two count the signed encounters and
    # read the page's ids (the worklist is paged); four read the page's rows (whether each was
    # billed with them), their current runs, lines and corrections; one reads the charge master
    # for the money totals; and this first request after signing in saves the session.
    # One more (15): the runs a coder acted on, for "charges changed since review" (their lines
    # read only when two runs were never compared before: coding/worklist_charges.py).
    with django_assert_max_num_queries(15):
        assert client.get(reverse("coding:worklist")).status_code == 200


def test_charges_page_shows_each_line_with_its_reason(client_as) -> None:
    encounter = factories.chemo_encounter_create(status=Encounter.Status.SIGNED)
    run, _ = charge_run_generate(encounter_id=encounter.pk)
    response = client_as(roles.CODER).get(reverse("coding:encounter_charges", args=[encounter.pk]))
    page = response.content.decode()
    for line in run.lines.all():
        assert line.code in page
        assert line.why[:40] in page


def test_charges_page_is_for_coders(client_as) -> None:
    encounter = factories.chemo_encounter_create(status=Encounter.Status.SIGNED)
    url = reverse("coding:encounter_charges", args=[encounter.pk])
    assert client_as(roles.NURSE).get(url).status_code == 403
