"""The chart page and its read-only htmx partials: who sees what, and fixed query counts."""

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from mar import chart_reads, roles
from mar.models import (
    Addendum,
    Administration,
    Encounter,
    EncounterSummary,
    FindingAcknowledgement,
    Flush,
    Pause,
)
from tests import factories
from tests.mar.chart_helpers import running_visit

READ_VIEWS = ["encounter", "encounter_checklist", "encounter_timeline", "encounter_charges"]


@pytest.mark.parametrize("view", READ_VIEWS)
@pytest.mark.parametrize("role", [roles.NURSE, roles.CODER, roles.PHARMACIST, roles.ADMIN])
def test_every_role_reads_the_chart(client_as, chemo_encounter, view, role) -> None:
    response = client_as(role).get(reverse(f"mar:{view}", args=[chemo_encounter.pk]))
    assert response.status_code == 200


@pytest.mark.parametrize("view", READ_VIEWS)
def test_anonymous_is_sent_to_log_in(chemo_encounter, view) -> None:
    url = reverse(f"mar:{view}", args=[chemo_encounter.pk])
    response = Client().get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_a_user_without_a_role_is_refused(db, chemo_encounter) -> None:
    client = Client()
    client.force_login(factories.user_create(username="nobody"))
    assert client.get(reverse("mar:encounter", args=[chemo_encounter.pk])).status_code == 403


def test_a_nurse_gets_the_charting_controls(client_as) -> None:
    encounter, _adm = running_visit()
    page = client_as(roles.NURSE).get(reverse("mar:encounter", args=[encounter.pk])).content
    page = page.decode()
    assert 'data-testid="stop"' in page
    assert 'data-testid="pause"' in page
    assert 'data-testid="flush"' in page
    assert 'data-testid="sign-form"' in page


@pytest.mark.parametrize("role", [roles.CODER, roles.PHARMACIST])
def test_coders_and_pharmacists_read_without_controls(client_as, role) -> None:
    encounter, _adm = running_visit()
    page = client_as(role).get(reverse("mar:encounter", args=[encounter.pk])).content.decode()
    assert "carboplatin" in page
    assert 'data-testid="stop"' not in page
    assert 'data-testid="sign-form"' not in page
    assert 'data-testid="start"' not in page
    assert "<fieldset disabled>" in page  # the card's fields are shown, not editable


@pytest.mark.parametrize("role", [roles.CODER, roles.PHARMACIST])
def test_only_a_nurse_gets_the_addendum_button_on_a_signed_chart(client_as, role) -> None:
    """screens.md: the signed chart's "addendum" button is the nurse's; others read it only,
    even when asking for the addendum."""
    encounter = factories.chemo_encounter_create(status=Encounter.Status.SIGNED)
    url = reverse("mar:encounter", args=[encounter.pk])
    assert 'data-testid="addendum-open"' in client_as(roles.NURSE).get(url).content.decode()
    page = client_as(role).get(url, {"addendum": "1"}).content.decode()
    assert 'data-testid="addendum-open"' not in page
    assert "Save as addendum" not in page and "Add addendum" not in page


def test_the_checklist_shows_the_engines_findings_with_rule_and_field(client_as) -> None:
    encounter, adm = running_visit()
    response = client_as(roles.NURSE).get(
        reverse("mar:encounter_checklist", args=[encounter.pk]), HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert 'id="checklist"' in html
    assert 'data-rule="RAC-7"' in html
    # Running at the bedside: said, as info, not an error (issue 15, item 9).
    assert "carboplatin is running (started" in html
    # The link jumps to the card's stop field, the field the engine names.
    assert f'href="#id_a{adm.pk}-stop"' in html
    assert "ck-info" in html and "ck-error" not in html
    assert "<html" not in html  # a partial, not a page


def test_a_complete_record_has_a_clear_checklist(client_as, chemo_encounter) -> None:
    # The factory's visit lacks one flush (RAC-5, between the push and paclitaxel): chart it.
    site = chemo_encounter.sites.get()
    Flush.objects.create(
        encounter=chemo_encounter, site=site, at=factories.MORNING + timedelta(minutes=70)
    )
    html = (
        client_as(roles.NURSE)
        .get(reverse("mar:encounter_checklist", args=[chemo_encounter.pk]))
        .content.decode()
    )
    assert 'data-testid="checklist-clear"' in html


def test_the_chart_draws_the_timeline(client_as, chemo_encounter) -> None:
    html = (
        client_as(roles.NURSE)
        .get(reverse("mar:encounter_timeline", args=[chemo_encounter.pk]))
        .content.decode()
    )
    assert "<svg" in html
    assert 'data-administration="A' in html


def test_signed_chart_polls_for_charges_until_the_worker_made_them(client_as) -> None:
    encounter = factories.chemo_encounter_create()
    Encounter.objects.filter(pk=encounter.pk).update(status=Encounter.Status.SIGNED)
    client = client_as(roles.NURSE)
    html = client.get(reverse("mar:encounter_charges", args=[encounter.pk])).content.decode()
    assert "being generated" in html
    assert 'hx-trigger="load delay:2s"' in html
    from coding.services import charge_run_generate

    charge_run_generate(encounter_id=encounter.pk)
    html = client.get(reverse("mar:encounter_charges", args=[encounter.pk])).content.decode()
    assert "96413" in html
    assert "hx-trigger" not in html


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


# Fixed numbers: session, user, groups, encounter, the engine's bridge (its six reads in one
# statement on PostgreSQL: mar/record.py), then the chart's own
# rows (sites, orders, administrations and pauses, acknowledgements, flushes; the addenda only
# on a signed record, the only one that takes them: SIGNED_EXTRA) (the
# session is written once a minute, not here: config/session.py); issue 17's panels
# (mar/care_context.py: scans, measures, the administrations' rate changes and overrides, the
# sites' assessments, and the administrations charted in error: 6, the orders, administrations,
# pauses and sites the chart read reused, issue 19); the
# summary stored where none is yet (mar/summary.py `summary_evaluate`: what the next change's
# answer compares its findings with; one insert, only then: whether one is stored is read with
# the encounter).
# SQLite (the demo's database) reads the bridge's six each on its own: 5 more.
# Whether each order's drug has an active NDC (the Start box says which cannot be scanned) is
# read with the orders (mar/chart_reads.py `orders`, thirty-second session): none more.
CHART_QUERIES = 17 if connection.vendor == "postgresql" else 22
SIGNED_EXTRA = 1  # the addenda
# The checklist reads the stored summary (mar/summary.py) instead of the bridge: session, user,
# then the encounter with its summary joined and, in the same statement (PostgreSQL), its
# acknowledgements, the administrations its findings name and the user's groups (the role
# check) and the orders given (the sign-off's notes of a calculated dose); then only what some
# findings need: the pauses for a pause finding (as here), the sites for a flush finding, and the
# visit's measures when an order given has a calculated dose (mar/chart_context.py
# `sign_dose_notes`). (SQLite reads the groups, acknowledgements and administrations
# each on its own: 3 more.)
CHECKLIST_QUERIES = 4 if connection.vendor == "postgresql" else 7


def test_chart_page_queries_stay_fixed_as_the_record_grows(
    client_as, django_assert_num_queries
) -> None:
    client = client_as(roles.NURSE)
    small = factories.chemo_encounter_create()
    large = factories.chemo_encounter_create(extra_pushes=25)
    client.get(reverse("mar:encounter", args=[small.pk]))  # warm the session
    # Where no summary is stored yet, the chart page stores one (one insert more)...
    assert not EncounterSummary.objects.filter(encounter=large).exists()
    with django_assert_num_queries(CHART_QUERIES + 1):
        client.get(reverse("mar:encounter", args=[large.pk]))
    assert EncounterSummary.objects.filter(encounter=large).exists()
    # ...and writes nothing once it is (issue 19: no write on every page load).
    with django_assert_num_queries(CHART_QUERIES):
        client.get(reverse("mar:encounter", args=[small.pk]))
    with django_assert_num_queries(CHART_QUERIES):
        client.get(reverse("mar:encounter", args=[large.pk]))


def test_the_chart_reads_the_addenda_of_a_signed_record_only(client_as, monkeypatch) -> None:
    """Only a signed record takes an addendum and a signature is never undone: a record in
    progress has none to read (one statement fewer, issue 19); a signed one shows its own."""
    client = client_as(roles.NURSE)
    in_progress = factories.chemo_encounter_create()
    signed = factories.chemo_encounter_create(status=Encounter.Status.SIGNED)
    author = factories.user_create(username="nurse-addendum", role=roles.NURSE)
    Addendum.objects.create(
        encounter=signed, what="stop time corrected", why="pump log", author=author
    )
    read: list[int] = []
    addenda = chart_reads.addenda

    def counted(encounter_id: int, **known: Any) -> Any:
        read.append(encounter_id)
        return addenda(encounter_id, **known)

    monkeypatch.setattr(chart_reads, "addenda", counted)
    client.get(reverse("mar:encounter", args=[in_progress.pk]))
    page = client.get(reverse("mar:encounter", args=[signed.pk])).content.decode()
    assert read == [signed.pk] * SIGNED_EXTRA
    assert "stop time corrected" in page


def test_checklist_partial_queries_stay_fixed_as_the_record_grows(
    client_as, django_assert_num_queries
) -> None:
    client = client_as(roles.NURSE)
    small = factories.chemo_encounter_create()
    large = factories.chemo_encounter_create(extra_pushes=25)
    client.get(reverse("mar:encounter_checklist", args=[small.pk]))
    client.get(reverse("mar:encounter_checklist", args=[large.pk]))  # its summary stored
    with django_assert_num_queries(CHECKLIST_QUERIES):
        client.get(reverse("mar:encounter_checklist", args=[small.pk]))
    with django_assert_num_queries(CHECKLIST_QUERIES):
        client.get(reverse("mar:encounter_checklist", args=[large.pk]))


def _checklist_section(html: str) -> str:
    start = html.index('<section id="checklist"')
    return html[start : html.index("</section>", start) + len("</section>")]


@pytest.mark.postgresql("the joined read is PostgreSQL's")
def test_the_checklist_get_reads_its_acknowledgements_and_named_administrations_with_it(
    client_as, django_assert_num_queries
) -> None:
    """Issue 19: the checklist's GET reads the acknowledgements (who gave each, why) and the
    administrations its stored findings name in the statement that reads the encounter and its
    summary. The panel says what it says with each read on its own: findings, links (a pause's
    own field), acknowledgements and counts; a summary expired since it was stored is computed
    again and what it names read as before."""
    from django.utils import timezone

    from mar.chart_context import checklist_context

    encounter = factories.chemo_encounter_create(extra_pushes=2)
    stopped = encounter.administrations.filter(stop__isnull=False).order_by("pk").first()
    Pause.objects.create(administration=stopped, start=stopped.start + timedelta(minutes=1))
    Flush.objects.filter(encounter=encounter).delete()  # RAC-5: no flush between drugs
    EncounterSummary.objects.filter(encounter=encounter).delete()  # changed behind the services
    client = client_as(roles.NURSE)
    url = reverse("mar:encounter_checklist", args=[encounter.pk])
    client.get(url)  # the summary stored
    findings = [
        item.finding
        for group in checklist_context(encounter)["checklist"].groups
        for item in group.items
    ]
    named = [f for f in findings if f.administrations and f.severity == "error"]
    assert named and any((f.field or "").startswith("pauses[") for f in findings)
    by = factories.user_create(username="nurse-<ack>", role=roles.NURSE)
    FindingAcknowledgement.objects.create(
        encounter=encounter, rule=named[0].rule, administrations=",".join(named[0].administrations),
        field=named[0].field or "", message=named[0].message, reason="pump log & <chart>", by=by,
    )  # fmt: skip

    # Each row read on its own (the encounter read without them): what the panel must say.
    alone = _checklist_section(
        _checklist_html(checklist_context(Encounter.objects.get(pk=encounter.pk)))
    )
    assert "Acknowledged by nurse-&lt;ack&gt;: pump log &amp; &lt;chart&gt;" in alone
    assert f'href="#adm-{named[0].administrations[0][1:]}"' in alone and "#id_p" in alone
    # The sites too (a flush finding), and the visit's measures: paclitaxel 175 mg/m² is given
    # on a visit with no height or weight (the sign-off's note, chart_context.sign_dose_notes).
    with django_assert_num_queries(CHECKLIST_QUERIES + 2):
        joined = _checklist_section(client.get(url, HTTP_HX_REQUEST="true").content.decode())
    assert joined == alone
    read = chart_reads.encounter_and_summary(encounter.pk, by.pk)[0]
    assert read.reader_groups == [roles.NURSE]
    rows = chart_reads.checklist_rows(read)
    assert rows is not None
    assert [(a.pk, a.by.get_username(), a.reason) for a in rows.acknowledgements] == [
        (a.pk, "nurse-<ack>", "pump log & <chart>")
        for a in FindingAcknowledgement.objects.filter(encounter=encounter)
    ]
    names = {int(i[1:]) for f in findings for i in f.administrations if i.startswith("A")}
    assert {a.pk for a in rows.administrations} == names
    assert {
        (a.pk, a.drug.name, a.order_id, a.site_id, a.purpose) for a in rows.administrations
    } == {
        (a.pk, a.drug.name, a.order_id, a.site_id, a.purpose)
        for a in Administration.objects.filter(pk__in=names).select_related("drug")
    }

    # Expired: computed again at the GET, its rows read on their own; the panel unchanged.
    EncounterSummary.objects.filter(encounter=encounter).update(
        valid_until=timezone.now() - timedelta(minutes=1)
    )
    again = _checklist_section(client.get(url, HTTP_HX_REQUEST="true").content.decode())
    assert again == alone


@pytest.mark.parametrize("role", [roles.CLERK, None])
def test_the_checklist_refuses_a_role_not_its_own_even_where_no_encounter_is(
    db, chemo_encounter, role
) -> None:
    """Its role check is made on the groups read with the encounter (issue 19): refused as
    `role_required` refuses (403), and a 403, not a 404, where the encounter does not exist (its
    absence is not told to who may not read it); an admin without a group reads it."""
    client = Client()
    client.force_login(factories.user_create(username="not-a-reader", role=role))
    for pk in (chemo_encounter.pk, 999999):
        for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
            url = reverse("mar:encounter_checklist", args=[pk])
            assert client.get(url, **headers).status_code == 403
    admin = Client()
    admin.force_login(User.objects.create_superuser("super-reader", password="x"))
    for pk, status in ((chemo_encounter.pk, 200), (999999, 404)):
        assert admin.get(reverse("mar:encounter_checklist", args=[pk])).status_code == status


def test_an_encounter_that_does_not_exist_is_404(client_as) -> None:
    assert client_as(roles.NURSE).get(reverse("mar:encounter", args=[999999])).status_code == 404


def test_an_open_pause_links_to_its_resume_field(client_as) -> None:
    encounter, adm = running_visit()
    pause = Pause.objects.create(administration=adm, start=adm.start + timedelta(minutes=5))
    Administration.objects.filter(pk=adm.pk).update(stop=adm.start + timedelta(minutes=30))
    html = (
        client_as(roles.NURSE)
        .get(reverse("mar:encounter_checklist", args=[encounter.pk]))
        .content.decode()
    )
    assert "has no resume time" in html
    assert f'href="#id_p{pause.pk}-end"' in html


def test_an_infusion_paused_now_is_not_an_item_that_would_cost_a_charge(client_as) -> None:
    """walk19: pausing a running infusion (a reaction) turned the chart red, "Not ready to sign:
    1 item would cost a charge", and asked a reason to sign anyway for the pause in progress.
    It is said, grey, and linked to its resume field; the stop is still what signing needs."""
    encounter, adm = running_visit()
    pause = Pause.objects.create(administration=adm, start=adm.start + timedelta(minutes=50))
    html = client_as(roles.NURSE).get(reverse("mar:encounter", args=[encounter.pk]))
    html = html.content.decode()
    assert "red item" not in html
    assert "has no resume time" not in html
    assert "carboplatin is paused (since" in html
    assert f'href="#id_p{pause.pk}-end"' in html


def test_an_unreadable_record_says_why_and_cannot_be_signed(client_as) -> None:
    encounter, _adm = running_visit(timezone="Mars/Olympus_Mons")
    html = client_as(roles.NURSE).get(reverse("mar:encounter", args=[encounter.pk])).content
    html = html.decode()
    assert "The record cannot be read: encounter.timezone" in html
    assert "Signing is disabled" in html


def _sign_state(html: str) -> str:
    start = html.index('id="sign-state"')
    return html[start : html.index("</div>", start)]


def test_the_top_bar_says_why_signing_is_blocked_and_leads_to_the_sign_off(client_as) -> None:
    """screens.md, the chart's top: "the sign button, which says why it is disabled when it
    is": the number of errors that would cost a charge, in words, linking to the sign-off."""
    encounter, adm = running_visit()
    Administration.objects.filter(pk=adm.pk).update(stop=adm.start + timedelta(minutes=40))
    adm.refresh_from_db()
    # An order neither given nor documented (DOC-6, an error).
    order = factories.order_create(encounter, factories.drug_get("ondansetron"), dose="8 mg")
    client = client_as(roles.NURSE)
    state = _sign_state(client.get(reverse("mar:encounter", args=[encounter.pk])).content.decode())
    assert "Not ready to sign: 1 red item to resolve" in state
    assert 'href="#sign"' in state
    # A change updates it out of band: the order documented as held, the record is ready.
    html = client.post(
        reverse("mar:order_disposition", args=[encounter.pk, order.pk]),
        {f"d{order.pk}-disposition": "held", f"d{order.pk}-reason": "BP 80/50"},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    state = _sign_state(html)
    assert 'hx-swap-oob="true"' in state
    assert "Ready to sign" in state


def test_the_top_bar_says_so_when_the_record_cannot_be_read(client_as) -> None:
    """screens.md: the sign button says why it is disabled (here: the record is unreadable)."""
    encounter, _adm = running_visit(timezone="Mars/Olympus_Mons")
    html = client_as(roles.NURSE).get(reverse("mar:encounter", args=[encounter.pk])).content
    assert "Cannot sign: the record cannot be read" in _sign_state(html.decode())


def test_a_chart_section_answer_updates_the_top_bar_out_of_band(client_as) -> None:
    """screens.md: the top bar's sign state follows every change made with htmx."""
    encounter, adm = running_visit()
    html = (
        client_as(roles.NURSE)
        .post(
            reverse("mar:adm_stop", args=[encounter.pk, adm.pk]),
            {f"at{adm.pk}-version": adm.version},
            HTTP_HX_REQUEST="true",
        )
        .content.decode()
    )
    assert "Ready to sign" in _sign_state(html)
    html = (
        client_as(roles.NURSE)
        .post(reverse("mar:site_flush", args=[encounter.pk, adm.site_id]), HTTP_HX_REQUEST="true")
        .content.decode()
    )
    # A flush answers with the parts of its site chip it changed (issue 19: not the whole chart,
    # nor the chip's care and details forms), the rest out of band too.
    assert html.lstrip().startswith(f'<div id="site-{adm.site_id}-head" hx-swap-oob="morph">')
    for part in ("flushes", "actions"):
        assert f'<div id="site-{adm.site_id}-{part}" hx-swap-oob="morph">' in html
    assert 'id="chart"' not in html
    assert 'hx-swap-oob="true"' in _sign_state(html)
    for fragment in ('id="checklist"', 'id="timeline"'):
        tag = html[html.index(fragment) - 200 : html.index(fragment) + 400]
        assert 'hx-swap-oob="true"' in tag, fragment


def test_an_empty_dose_unit_does_not_look_charted(client_as) -> None:
    """The dose and waste feed the drug's HCPCS units and JW/JZ: an empty unit must look empty,
    so its hint reads as one ("e.g. mg", under the label "Unit"), not a bare "mg" that reads as
    charted."""
    encounter, adm = running_visit()
    html = client_as(roles.NURSE).get(reverse("mar:encounter", args=[encounter.pk])).content
    html = html.decode()
    for name in ("dose_unit", "waste_unit"):
        assert 'placeholder="e.g. mg"' in html.split(f'name="a{adm.pk}-{name}"')[1][:200]
    assert 'placeholder="mg"' not in html


def _checklist_html(context: dict) -> str:
    from mar.jinja import partial_render

    keep = {"encounter": context["encounter"], "checklist": context["checklist"]}
    return partial_render(None, "mar/_checklist.jinja", {**keep, "now": context["now"]})


@pytest.mark.django_db
def test_the_checklist_alone_reads_only_what_its_findings_name_and_shows_what_the_chart_shows(
    django_assert_max_num_queries,
) -> None:
    """Issue 19: the checklist refresh reads the administrations its findings name (with their
    pauses only for a pause finding), the sites only for a flush finding; what it shows, links
    included, is what the chart's checklist shows for the same record."""
    from django.utils import timezone

    from mar.chart_context import chart_context, checklist_context

    encounter = factories.chemo_encounter_create(extra_pushes=2)
    stopped = encounter.administrations.filter(stop__isnull=False).order_by("pk").first()
    Pause.objects.create(administration=stopped, start=stopped.start + timedelta(minutes=1))
    Flush.objects.filter(encounter=encounter).delete()  # RAC-5: no flush between drugs
    EncounterSummary.objects.filter(encounter=encounter).delete()  # changed behind the services
    now = timezone.now()
    checklist_context(encounter, now=now)  # the summary stored
    with django_assert_max_num_queries(6):
        alone = checklist_context(encounter, now=now)
    rules = {item.finding.field for group in alone["checklist"].groups for item in group.items}
    assert "flushes" in rules and any((f or "").startswith("pauses[") for f in rules)
    whole = chart_context(encounter, now=now)
    assert _checklist_html(alone) == _checklist_html(whole)
    assert "#id_p" in _checklist_html(alone)  # the pause's own field, found without the chart


@pytest.mark.django_db
def test_the_chart_builds_the_sign_off_form_in_progress_and_the_addendum_form_once_signed() -> None:
    """Issue 19: mar/_sign.jinja draws the sign-off form on a record in progress and the
    addendum's on a signed one; the chart's context builds only the one drawn."""
    from mar.chart_context import chart_context
    from mar.forms import AddendumForm, SignForm

    in_progress = factories.chemo_encounter_create()
    context = chart_context(in_progress)
    # a sign-off form built when drawn (it is kept drawn while unchanged: mar/chart_cards.py)
    assert isinstance(context["sign_form"]["confirm"].form, SignForm)
    assert context["addendum_form"] is None
    signed = factories.chemo_encounter_create(status=Encounter.Status.SIGNED)
    context = chart_context(signed)
    assert context["sign_form"] is None and isinstance(context["addendum_form"], AddendumForm)


def test_the_signed_chart_still_draws_the_addendum_form_and_the_open_one_the_sign_off(
    client_as,
) -> None:
    """What each page draws is unchanged by building one form of the two (issue 19)."""
    nurse = client_as(roles.NURSE)
    signed = factories.chemo_encounter_create(status=Encounter.Status.SIGNED)
    page = nurse.get(reverse("mar:encounter", args=[signed.pk]), {"addendum": "1"})
    html = page.content.decode()
    assert "Add addendum" in html and 'name="addendum-what"' in html
    assert 'data-testid="sign-form"' not in html
    in_progress = factories.chemo_encounter_create()
    html = nurse.get(reverse("mar:encounter", args=[in_progress.pk])).content.decode()
    assert 'data-testid="sign-form"' in html and "Add addendum" not in html


@pytest.mark.parametrize(
    ("allergies", "shown", "alarm"),
    [
        ("penicillin", "Allergies: penicillin", True),
        ("", "Allergies: not recorded", False),
        ("NKDA", "Allergies: No known drug allergies", False),
    ],
    ids=["recorded-red", "not-recorded-not-red", "none-known-not-red"],
)
def test_only_recorded_allergies_are_shown_in_alarm_red(client_as, allergies, shown, alarm) -> None:
    encounter, _adm = running_visit(patient=factories.patient_create(allergies=allergies))
    html = client_as(roles.NURSE).get(reverse("mar:encounter", args=[encounter.pk])).content
    line = html.decode().split('data-testid="allergies">', 1)
    tag = line[0][line[0].rindex("<div") :]
    assert line[1].startswith(shown + "</div>")
    assert ("text-danger" in tag) is alarm
