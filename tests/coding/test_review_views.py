"""The coder's pages: every view for every role, the worklist filters, the review flow."""

import re
from decimal import Decimal
from html import escape

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from coding import review_reads
from coding.exports import export_create
from coding.models import ChargeCorrection, DocumentationQuery, EditOverride, MueLimit, ReviewItem
from coding.review import charge_line_correct, review_accept, review_claim
from coding.services import charge_run_generate
from mar import roles
from tests import factories
from tests.coding.review_helpers import reviewed

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(coder_user):
    """An encounter under review and one export, so every URL resolves to something real."""
    encounter, run, item = reviewed()
    other, _, other_item = reviewed()
    review_claim(user=coder_user, item_id=other_item.pk)
    review_accept(item=other_item, user=coder_user)
    export = export_create(user=coder_user).export
    return {"encounter": encounter, "run": run, "item": item, "export": export}


def urls(world):
    pk = world["encounter"].pk
    line = world["run"].lines.first().pk
    return [
        ("get", reverse("coding:worklist")),
        ("post", reverse("coding:claim_next")),
        ("get", reverse("coding:encounter_charges", args=[pk])),
        ("post", reverse("coding:claim", args=[pk])),
        ("post", reverse("coding:release", args=[pk])),
        ("post", reverse("coding:accept", args=[pk])),
        ("post", reverse("coding:reopen", args=[pk])),
        ("post", reverse("coding:line_correct", args=[pk, line])),
        ("post", reverse("coding:line_add", args=[pk])),
        ("post", reverse("coding:override", args=[pk])),
        ("post", reverse("coding:query", args=[pk])),
        ("get", reverse("coding:exports")),
        ("post", reverse("coding:export_new")),
        ("get", reverse("coding:export_download", args=[world["export"].pk, "csv"])),
        ("get", reverse("coding:report_findings")),
        ("get", reverse("coding:report_reconciliation")),
    ]


@pytest.mark.parametrize("role", [roles.NURSE, roles.PHARMACIST])
def test_nurses_and_pharmacists_are_refused_every_coding_view(world, client_as, role) -> None:
    client = client_as(role)
    for method, url in urls(world):
        assert getattr(client, method)(url).status_code == 403, url
    assert ReviewItem.objects.get(pk=world["item"].pk).state == ReviewItem.State.NEW


def test_anonymous_users_are_sent_to_the_login_page(world) -> None:
    client = Client()
    for method, url in urls(world):
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url


@pytest.mark.parametrize("role", [roles.CODER, roles.ADMIN])
def test_coders_and_admins_may_use_every_coding_view(world, client_as, role) -> None:
    client = client_as(role)
    for method, url in urls(world):
        status = getattr(client, method)(url).status_code
        assert status == (200 if method == "get" else 302), url


def test_an_unknown_export_format_is_not_found(world, client_as) -> None:
    url = reverse("coding:export_download", args=[world["export"].pk, "pdf"])
    assert client_as(roles.CODER).get(url).status_code == 404


def test_worklist_shows_state_charges_findings_and_who_has_it(client_as, coder_user) -> None:
    encounter, run, item = reviewed()
    review_claim(user=coder_user, item_id=item.pk)
    page = client_as(roles.CODER).get(reverse("coding:worklist")).content.decode()
    assert encounter.patient.name in page
    assert "96413" in page
    assert "In review" in page
    assert coder_user.username in page
    assert f"{run.lines.count()} lines" in page


def worklist_cell(page: str, encounter_pk: int, testid: str) -> str:
    """The text of one cell of an encounter's worklist row, tags dropped."""
    row = page[page.index(f'data-encounter="{encounter_pk}"') :]
    row = row[: row.index("</tr>")]
    cell = row[row.index(f'data-testid="{testid}"') :]
    cell = cell[cell.index(">") + 1 : cell.index("</td>")]
    return " ".join(re.sub(r"<[^>]+>", " ", cell).split())


def test_worklist_shows_a_charges_total_per_encounter_with_its_codes(client_as) -> None:
    """screens.md: the coder's worklist shows the "charges total"; with no prices in the app,
    the total is the lines and units to be sent, labelled as such, the codes kept below."""
    encounter, run, _ = reviewed()
    lines = list(run.lines.order_by("position"))
    page = client_as(roles.CODER).get(reverse("coding:worklist")).content.decode()
    assert "<th>Charges total</th>" in page
    total = worklist_cell(page, encounter.pk, "charges-total")
    units = sum(line.units for line in lines)
    assert total.startswith(f"{len(lines)} lines, {units} units ")
    assert "as corrected" not in total
    codes = worklist_cell(page, encounter.pk, "charge-codes")
    assert codes.split(", ") == [str(line) for line in lines]


def test_worklist_total_counts_the_charges_as_corrected(client_as, coder_user) -> None:
    encounter, run, item = reviewed()
    lines = list(run.lines.all())
    review_claim(user=coder_user, item_id=item.pk)
    hour = run.lines.get(code="96415")  # 2 units
    charge_line_correct(
        item=item, user=coder_user, line=hour, action="change", code="96415", units=1,
        modifiers=[], reason="second hour ran 25 min",
    )  # fmt: skip
    push = run.lines.get(code="96375")
    charge_line_correct(item=item, user=coder_user, line=push, action="remove", reason="x")
    page = client_as(roles.CODER).get(reverse("coding:worklist")).content.decode()
    units = sum(line.units for line in lines) - 1 - push.units
    total = worklist_cell(page, encounter.pk, "charges-total")
    assert total.startswith(f"{len(lines) - 1} lines, {units} units (as corrected)")
    codes = worklist_cell(page, encounter.pk, "charge-codes")
    assert "96415 x1" in codes and "96375" not in codes


def test_worklist_filters_by_state_unit_date_and_finding(client_as, coder_user) -> None:
    ed, _, ed_item = reviewed(unit="ED")
    infusion, _, _ = reviewed(unit="Infusion Center", billable=True)  # DRUG-WASTE: no waste
    review_claim(user=coder_user, item_id=ed_item.pk)
    client = client_as(roles.CODER)

    def names(**params: str) -> set[str]:
        page = client.get(reverse("coding:worklist"), params).content.decode()
        return {e.patient.name for e in (ed, infusion) if e.patient.name in page}

    assert names() == {ed.patient.name, infusion.patient.name}
    assert names(state="in_review") == {ed.patient.name}
    assert names(state="new") == {infusion.patient.name}
    assert names(unit="Infusion Center") == {infusion.patient.name}
    assert names(unit="infusion") == {infusion.patient.name}  # a part of the name, any case
    assert names(unit="ed") == {ed.patient.name}
    assert names(unit="Oncology") == set()
    assert names(date_from="2026-03-03") == set()
    assert names(date_from="2026-03-02", date_to="2026-03-02") == {
        ed.patient.name, infusion.patient.name,
    }  # fmt: skip
    assert names(rule="RAC-5") == {ed.patient.name, infusion.patient.name}
    assert names(rule="drug-waste") == {infusion.patient.name}
    assert names(rule="DOC-4") == set()


def test_a_refused_filter_says_the_list_is_not_filtered(client_as) -> None:
    # walk20: dates typed the wrong way round were refused beside the field while every signed
    # encounter was listed below, as if they fell in the range.
    reviewed()
    client = client_as(roles.CODER)
    url = reverse("coding:worklist")
    refused = client.get(url, {"date_from": "2026-03-31", "date_to": "2026-03-01"})
    page = refused.content.decode()
    assert "The range ends before it starts: date to is before date from." in page
    assert 'data-testid="filter-refused"' in page
    assert "Not filtered: correct the field marked above" in page
    for params in ({}, {"date_from": "2026-03-01", "date_to": "2026-03-31"}):
        assert 'data-testid="filter-refused"' not in client.get(url, params).content.decode()


def test_worklist_query_count_stays_fixed(
    client_as, coder_user, django_assert_max_num_queries
) -> None:
    client = client_as(roles.CODER)
    for _ in range(2):
        reviewed()
    # 15: one reads the charge master for the money totals, two count the signed encounters and
    # read the page's ids (the worklist is paged), one the runs a coder acted on ("charges
    # changed since review", coding/worklist_charges.py `changed_since_review`).
    with django_assert_max_num_queries(15) as small:
        assert client.get(reverse("coding:worklist")).status_code == 200
    for _ in range(6):
        _, run, item = reviewed()
        # Corrections (an added line names its coder) are part of the total: still no more queries.
        review_claim(user=coder_user, item_id=item.pk)
        charge_line_correct(
            item=item, user=coder_user, action="add", code="96372", units=1, modifiers=[],
            reason="SQ injection charted on paper",
        )  # fmt: skip
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert client.get(reverse("coding:worklist")).status_code == 200
    # A row needs its run's lines, not the record, billing and formulary facts and engine
    # output each run keeps (four JSON documents a run, decoded for every row): not read.
    # (The page's runs are read by a statement compiled once, coding/review_reads.py: on
    # PostgreSQL the query logged is its EXECUTE; its SQL is the one kept for 8 encounters.)
    kept = review_reads.current_runs.statement_for((8,))
    assert kept is not None and 'FROM "coding_chargerun"' in kept.sql
    assert not any(
        column in kept.sql
        for column in ("input_snapshot", "billing_snapshot", "formulary_snapshot", '"result"')
    )


def test_review_page_shows_timeline_lines_record_findings_and_not_charged(client_as) -> None:
    encounter, run, _ = reviewed(billable=True, waste=Decimal(0))
    page = (
        client_as(roles.CODER)
        .get(reverse("coding:encounter_charges", args=[encounter.pk]))
        .content.decode()
    )
    assert "<svg" in page and 'data-administration="A' in page
    for line in run.lines.all():
        assert line.code in page
        assert line.why[:40] in page
        assert f'data-covers="{" ".join(line.administrations)}"' in page
    assert "RAC-5" in page
    for adm in encounter.administrations.all():
        assert f'<tr data-administration="A{adm.pk}">' in page
    assert "JZ" in page
    assert "js/review.js" in page


def test_review_actions_appear_only_for_the_coder_holding_the_item(client_as, coder_user) -> None:
    encounter, _, item = reviewed()
    url = reverse("coding:encounter_charges", args=[encounter.pk])
    assert 'data-testid="accept"' not in client_as(roles.CODER).get(url).content.decode()
    review_claim(user=coder_user, item_id=item.pk)
    assert 'data-testid="accept"' in client_as(roles.CODER).get(url).content.decode()
    assert 'data-testid="accept"' not in client_as(roles.ADMIN).get(url).content.decode()


def test_claim_correct_and_accept_by_plain_form_posts(client_as) -> None:
    encounter, run, item = reviewed()
    client = client_as(roles.CODER)
    client.post(reverse("coding:claim", args=[encounter.pk]))
    line = run.lines.get(code="96415")
    url = reverse("coding:line_correct", args=[encounter.pk, line.pk])
    prefix = f"l{line.pk}"
    # Without a reason: refused, nothing saved.
    client.post(
        url, {f"{prefix}-action": "change", f"{prefix}-code": "96415", f"{prefix}-units": 1}
    )
    assert not ChargeCorrection.objects.exists()
    response = client.post(
        url,
        {
            f"{prefix}-action": "change", f"{prefix}-code": "96415", f"{prefix}-units": "1",
            f"{prefix}-modifiers": "", f"{prefix}-reason": "pump stopped at 11:40",
        },
    )  # fmt: skip
    assert response.status_code == 302
    correction = ChargeCorrection.objects.get()
    assert correction.reason == "pump stopped at 11:40"
    page = client.get(reverse("coding:encounter_charges", args=[encounter.pk])).content.decode()
    assert "pump stopped at 11:40" in page and "Was</strong> 96415 ×2" in page
    client.post(reverse("coding:accept", args=[encounter.pk]))
    item.refresh_from_db()
    assert item.state == ReviewItem.State.ACCEPTED


def test_add_line_validates_administration_ids(client_as, coder_user) -> None:
    encounter, _, item = reviewed()
    review_claim(user=coder_user, item_id=item.pk)
    client = client_as(roles.CODER)
    url = reverse("coding:line_add", args=[encounter.pk])
    client.post(
        url,
        {
            "code": "96372",
            "units": 1,
            "administrations": "A999999",
            "reason": "IM injection missed",
        },
    )
    assert not ChargeCorrection.objects.exists()
    adm = encounter.administrations.first()
    client.post(
        url,
        {
            "code": "96372",
            "units": 1,
            "administrations": f"A{adm.pk}",
            "reason": "IM injection missed",
        },
    )
    assert ChargeCorrection.objects.get().corrected["administrations"] == [f"A{adm.pk}"]


def test_query_by_form_post_and_shown_on_the_review_page(client_as, coder_user) -> None:
    encounter, run, item = reviewed()
    review_claim(user=coder_user, item_id=item.pk)
    client = client_as(roles.CODER)
    finding = run.findings.get(rule="RAC-5")
    client.post(
        reverse("coding:query", args=[encounter.pk]),
        {"finding": finding.pk, "question": "Was the line flushed between drugs?"},
    )
    assert DocumentationQuery.objects.get().question == "Was the line flushed between drugs?"
    item.refresh_from_db()
    assert item.state == ReviewItem.State.QUERIED
    page = client.get(reverse("coding:encounter_charges", args=[encounter.pk])).content.decode()
    assert "Was the line flushed between drugs?" in page
    # What happens next, under the state (walk18: "Queried" stood there with no action, no word).
    assert 'data-testid="queried-note"' in page
    assert "addendum answers the query" in page


def test_query_without_a_finding_by_form_post_reaches_the_nurse_without_a_rule_tag(
    client_as, coder_user
) -> None:
    """A question about a gap the engine did not flag goes out with no finding, naming the
    administration it is about, and the nurse sees no rule tag beside it."""
    from django.template.loader import render_to_string

    encounter, run, item = reviewed()
    review_claim(user=coder_user, item_id=item.pk)
    client = client_as(roles.CODER)
    adm = encounter.administrations.order_by("pk").first()
    page = client.get(reverse("coding:encounter_charges", args=[encounter.pk])).content.decode()
    assert f'<option value="A{adm.pk}">' in page  # the record's administrations are offered
    question = "zorblumab ran 15 minutes: was it a push?"
    response = client.post(
        reverse("coding:query", args=[encounter.pk]),
        {"finding": "", "administration": f"A{adm.pk}", "question": question},
    )
    assert response.status_code == 302
    # Issue 15: the coder is back on the encounter she queried, not on the worklist.
    assert response["Location"] == reverse("coding:encounter_charges", args=[encounter.pk])
    query = DocumentationQuery.objects.get()
    assert (query.rule, query.administrations) == ("", [f"A{adm.pk}"])
    page = client.get(reverse("coding:encounter_charges", args=[encounter.pk])).content.decode()
    assert question in page and "about the record" in page
    nurse = render_to_string("mar/_queries.html", {"encounter": encounter})
    assert question in nurse and f"A{adm.pk}" in nurse
    rules = {f.rule for f in run.findings.all()}
    assert rules and not any(rule in nurse for rule in rules)


def test_an_encounter_with_no_findings_can_still_be_queried(client_as, coder_user) -> None:
    encounter, run, item = reviewed()
    run.findings.all().delete()
    review_claim(user=coder_user, item_id=item.pk)
    client = client_as(roles.CODER)
    page = client.get(reverse("coding:encounter_charges", args=[encounter.pk])).content.decode()
    assert 'data-testid="query-form"' in page
    client.post(reverse("coding:query", args=[encounter.pk]), {"question": "Site of the push?"})
    assert DocumentationQuery.objects.get().question == "Site of the push?"
    item.refresh_from_db()
    assert item.state == ReviewItem.State.QUERIED


def test_an_mue_edit_blocks_accept_until_overridden_by_form_post(client_as, coder_user) -> None:
    MueLimit.objects.create(code="96415", limit=1)
    encounter, _, item = reviewed()
    review_claim(user=coder_user, item_id=item.pk)
    client = client_as(roles.CODER)
    client.post(reverse("coding:accept", args=[encounter.pk]))
    item.refresh_from_db()
    assert item.state == ReviewItem.State.IN_REVIEW
    page = client.get(reverse("coding:encounter_charges", args=[encounter.pk])).content.decode()
    assert "EDIT-MUE" in page
    message = "96415: 2 units on 2026-03-02 exceed the 1 per day allowed (MUE): held for the coder"
    client.post(
        reverse("coding:override", args=[encounter.pk]),
        {"rule": "EDIT-MUE", "message": message, "reason": "3-hour infusion documented"},
    )
    assert EditOverride.objects.get().reason == "3-hour infusion documented"
    client.post(reverse("coding:accept", args=[encounter.pk]))
    item.refresh_from_db()
    assert item.state == ReviewItem.State.ACCEPTED


def test_a_second_coder_cannot_take_a_claimed_item_by_form_post(client_as, coder_user) -> None:
    encounter, _, item = reviewed()
    review_claim(user=coder_user, item_id=item.pk)
    other = factories.user_create(username="coder2", role="coder")
    client = Client()
    client.force_login(other)
    client.post(reverse("coding:claim", args=[encounter.pk]))
    client.post(reverse("coding:accept", args=[encounter.pk]))
    item.refresh_from_db()
    assert item.claimed_by == coder_user and item.state == ReviewItem.State.IN_REVIEW


def test_the_nurse_chart_fragment_shows_open_queries_until_an_addendum_answers_them(
    coder_user, nurse_user
) -> None:
    from django.template.loader import render_to_string

    from coding.review import query_send
    from mar.services.signature import addendum_store

    encounter, run, item = reviewed(nurse=nurse_user)
    assert "coder-queries" not in render_to_string("mar/_queries.html", {"encounter": encounter})
    review_claim(user=coder_user, item_id=item.pk)
    query = query_send(
        item=item, user=coder_user, finding=run.findings.get(rule="RAC-5"),
        question="Please chart the flush before paclitaxel.",
    )  # fmt: skip
    html = render_to_string("mar/_queries.html", {"encounter": encounter})
    assert "Please chart the flush before paclitaxel." in html and "RAC-5" in html
    addendum_store(
        encounter=encounter, user=nurse_user, what="flush", why="query", answers=[query.pk]
    )
    assert "coder-queries" not in render_to_string("mar/_queries.html", {"encounter": encounter})


def test_the_nurse_chart_shows_the_charges_as_the_coder_corrected_them(
    client_as, coder_user, nurse_user
) -> None:
    """The chart's Charges table shows the lines as they will be sent, not the engine's: a
    changed line with its corrected code marked "(as corrected)", a removed line gone."""
    encounter, run, item = reviewed(nurse=nurse_user)
    review_claim(user=coder_user, item_id=item.pk)
    hour = run.lines.get(code="96415")
    charge_line_correct(
        item=item, user=coder_user, line=hour, action="change", code="96365", units=1,
        modifiers=["XU"], reason="a separate site, documented",
    )  # fmt: skip
    removed = run.lines.exclude(pk=hour.pk).exclude(code="96415").order_by("position").last()
    charge_line_correct(
        item=item, user=coder_user, line=removed, action="remove", reason="not documented"
    )
    client = client_as(roles.NURSE)
    charges = client.get(reverse("mar:encounter_charges", args=[encounter.pk])).content.decode()
    chart = client.get(reverse("mar:encounter", args=[encounter.pk])).content.decode()
    for page in (charges, chart):
        rows = re.findall(r"<tr[^>]*>.*?</tr>", page.split('data-testid="charges"')[1], re.S)
        corrected = [r for r in rows if "charge-as-corrected" in r]
        assert len(corrected) == 1
        assert "96365" in corrected[0] and "XU" in corrected[0]
        assert "(as corrected)" in corrected[0]
        codes = [re.search(r'fw-bold">(\w+)', r).group(1) for r in rows if 'fw-bold">' in r]
        assert "96415" not in codes and removed.code not in codes
        assert len(codes) == run.lines.count() - 1


def test_review_page_shows_the_pharmacists_verification_of_each_order(
    client_as, pharmacist_user
) -> None:
    """Issue 5: a pharmacist's verification (who, when) is shown to the coder."""
    encounter = factories.chemo_encounter_create()
    first = encounter.orders.order_by("pk").first()
    first.verified_by, first.verified_at = pharmacist_user, timezone.now()
    first.save()
    encounter.status = encounter.Status.SIGNED
    encounter.save()
    charge_run_generate(encounter_id=encounter.pk)
    page = (
        client_as(roles.CODER)
        .get(reverse("coding:encounter_charges", args=[encounter.pk]))
        .content.decode()
    )
    assert page.count('data-testid="order-verified"') == 1
    assert page.count('data-testid="order-unverified"') == encounter.orders.count() - 1
    assert pharmacist_user.get_username() in page


def test_review_page_shows_why_the_run_was_made(client_as) -> None:
    """Issue 5: a regeneration after a class change (or its flag after export) tells the coder."""
    encounter, run, _ = reviewed()
    run.reason = "CLASS CHANGED AFTER EXPORT: paclitaxel chemo -> therapeutic"
    run.save(update_fields=["reason"])
    page = (
        client_as(roles.CODER)
        .get(reverse("coding:encounter_charges", args=[encounter.pk]))
        .content.decode()
    )
    assert 'data-testid="run-reason"' in page
    assert "CLASS CHANGED AFTER EXPORT" in page
    # Said as what it is, not a banner without a word of why it is there (QA walkthrough).
    assert "<strong>Why this run was made:</strong> CLASS CHANGED AFTER EXPORT" in page


def test_the_worklist_is_paged_so_every_signed_encounter_is_reachable_and_filters_are_kept(
    client_as, monkeypatch
) -> None:
    """Issue 19: the worklist shows a page of WORKLIST_PAGE rows, newest first, with the count of
    all of them and links to the pages before and after that keep the filter; no encounter is
    beyond reach (the cap of 300 it replaced hid the rest). A page's reads do not grow with the
    encounters signed."""
    from coding import views

    monkeypatch.setattr(views, "WORKLIST_PAGE", 2)
    signed = [reviewed(unit="ED")[0] for _ in range(5)]
    other = reviewed(unit="Infusion Center")[0]
    client = client_as(roles.CODER)
    newest_first = sorted(signed, key=lambda e: (e.arrived_at, e.pk), reverse=True)

    def rows(**params: str) -> tuple[list[int], str]:
        page = client.get(reverse("coding:worklist"), params).content.decode()
        return [
            int(pk) for pk in re.findall(r'data-testid="worklist-row" data-encounter="(\d+)"', page)
        ], page

    seen = []
    for number in (1, 2, 3):
        pks, page = rows(unit="ED", page=str(number))
        assert len(pks) == (2 if number < 3 else 1)
        seen += pks
        assert f"Page {number} of 3" in page and "Encounters " in page and " of 5" in page
        if number < 3:
            assert f'href="?unit=ED&amp;page={number + 1}" rel="next"' in page
        if number > 1:
            assert f'href="?unit=ED&amp;page={number - 1}" rel="prev"' in page
    assert seen == [e.pk for e in newest_first]  # each once, in order
    assert other.pk not in seen
    # A page past the end shows the last one; one that is not a number, the first.
    assert rows(unit="ED", page="99")[0] == seen[4:]
    assert rows(unit="ED", page="x")[0] == seen[:2]
    assert "There is no page 99: showing page 3" in rows(unit="ED", page="99")[1]
    # One page only: no page links.
    assert 'data-testid="worklist-pages"' not in rows(unit="Infusion Center")[1]


def test_a_worklist_page_it_does_not_have_is_said_above_the_list(client_as, monkeypatch) -> None:
    """QA: `?page=999` and `?page=abc` silently showed another page than the one asked for:
    the worklist says so above the list, and which page it shows instead."""
    from coding import views

    monkeypatch.setattr(views, "WORKLIST_PAGE", 2)
    for _ in range(3):
        reviewed(unit="ED")
    client = client_as(roles.CODER)

    def said(page: str) -> str | None:
        html = client.get(reverse("coding:worklist"), {"page": page}).content.decode()
        found = re.search(r'data-testid="page-missing">([^<]*)</p>', html)
        if found:  # above the list
            assert html.index('data-testid="page-missing"') < html.index("<table")
        return found.group(1) if found else None

    assert said("abc") == "There is no page abc: showing page 1"
    assert said("999") == "There is no page 999: showing page 2"
    assert said("0") == "There is no page 0: showing page 2"
    assert said("<b>") == "There is no page &lt;b&gt;: showing page 1"  # escaped
    # The pages it has, and none asked for, say nothing.
    assert said("1") is None and said("2") is None and said(" 2") is None and said("") is None
    assert (
        'data-testid="page-missing"' not in client.get(reverse("coding:worklist")).content.decode()
    )


def test_a_worklist_page_costs_the_same_reads_however_many_are_signed(
    client_as, monkeypatch, django_assert_max_num_queries
) -> None:
    from coding import views

    monkeypatch.setattr(views, "WORKLIST_PAGE", 3)
    client = client_as(roles.CODER)
    for _ in range(3):
        reviewed()
    # 15: with the runs a coder acted on ("charges changed since review"), one read a page.
    with django_assert_max_num_queries(15) as few:
        assert client.get(reverse("coding:worklist")).status_code == 200
    for _ in range(5):
        reviewed()
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = client.get(reverse("coding:worklist")).content.decode()
    assert page.count('data-testid="worklist-row"') == 3 and "of 8" in page


def test_above_the_count_cap_the_worklist_says_more_and_every_page_is_reached(
    client_as, monkeypatch
) -> None:
    """Issue 19: the worklist lists every encounter ever signed; counting them all grew with
    the years. Above the cap it says "more than" and pages on by "Next" to the last one."""
    from coding import views

    monkeypatch.setattr(views, "WORKLIST_PAGE", 2)
    monkeypatch.setattr(views, "WORKLIST_COUNT_CAP", 3)
    signed = [reviewed()[0] for _ in range(5)]
    client = client_as(roles.CODER)
    seen: list[int] = []
    for number in (1, 2, 3):
        page = client.get(reverse("coding:worklist"), {"page": str(number)}).content.decode()
        seen += [
            int(pk) for pk in re.findall(r'data-testid="worklist-row" data-encounter="(\d+)"', page)
        ]
        if number == 1:
            assert "Encounters 1–2 of more than 3" in page and "Page 1</span>" in page
        if number < 3:
            assert f'href="?page={number + 1}" rel="next"' in page
        else:
            assert 'rel="next"' not in page and "Page 3 of 3" in page and " of 5 " in page
    assert sorted(seen) == sorted(e.pk for e in signed)


@pytest.mark.parametrize("name", ["coding:worklist", "coding:report_findings"])
def test_a_date_range_typed_backwards_is_said_beside_date_to(client_as, name) -> None:
    """Before: the worklist said "No signed encounters match" (the report: nothing), as if the
    days had no encounters."""
    reviewed()
    page = client_as(roles.CODER).get(
        reverse(name), {"date_from": "2026-03-05", "date_to": "2026-03-01"}
    )
    assert page.status_code == 200
    form = page.context["form"]
    assert form.errors == {
        "date_to": ["The range ends before it starts: date to is before date from."]
    }
    assert "The range ends before it starts: date to is before date from." in page.content.decode()


def test_a_coding_lead_releases_a_claim_another_coder_left_and_the_corrections_stay(
    client_as, coder_user
) -> None:
    """A coder away (gone home, off sick) held her encounters for good: only she could release
    them. A coding lead (or an admin) now may; a plain coder still may not."""
    encounter, run, item = reviewed()
    review_claim(user=coder_user, item_id=item.pk)
    charge_line_correct(
        item=item, user=coder_user, line=run.lines.get(code="96375"), action="remove",
        reason="push charted twice",
    )  # fmt: skip
    review_url = reverse("coding:encounter_charges", args=[encounter.pk])
    release_url = reverse("coding:release", args=[encounter.pk])

    plain = Client()
    plain.force_login(factories.user_create(username="coder-plain", role="coder"))
    assert 'data-testid="release-other"' not in plain.get(review_url).content.decode()
    plain.post(release_url)
    assert ReviewItem.objects.get(pk=item.pk).claimed_by == coder_user

    lead_user = factories.user_create(username="coder-lead", role="coder")
    lead_user.user_permissions.add(Permission.objects.get(codename="add_payerpolicy"))
    lead = Client()
    lead.force_login(lead_user)
    assert 'data-testid="release-other"' in lead.get(review_url).content.decode()
    assert lead.post(release_url)["Location"] == review_url

    item.refresh_from_db()
    assert item.state == ReviewItem.State.NEW and item.claimed_by is None
    assert run.corrections.get().reason == "push charted twice"
    assert client_as(roles.ADMIN).post(release_url).status_code == 302  # nothing to release
    assert ReviewItem.objects.get(pk=item.pk).state == ReviewItem.State.NEW


def test_claim_next_says_which_encounter_it_claimed(client_as) -> None:
    """The coder did not pick the record: the review page it opens names it in a message."""
    encounter, _run, item = reviewed()
    client = client_as(roles.CODER)
    response = client.post(reverse("coding:claim_next"), follow=True)
    assert response.redirect_chain[-1][0] == reverse(
        "coding:encounter_charges", args=[encounter.pk]
    )
    item.refresh_from_db()
    assert item.state == ReviewItem.State.IN_REVIEW
    said = [(m.level_tag, str(m)) for m in response.context["messages"]]
    patient = encounter.patient
    assert len(said) == 1 and said[0][0] == "success"
    assert said[0][1].startswith(f"Claimed: {patient.name}, MRN {patient.mrn}, {encounter.unit}")
    assert escape(f"Claimed: {patient.name}") in response.content.decode()
    # Nothing left: the worklist says so, no claim message.
    response = client.post(reverse("coding:claim_next"), follow=True)
    assert [str(m) for m in response.context["messages"]] == [
        "No new encounter is waiting for review."
    ]


def test_the_review_page_shows_an_order_not_given_and_why_the_nurse_signed_anyway(
    client_as, nurse_user
) -> None:
    """DOC-6 and the signature's reasons, beside the charges: an order documented held shows
    with its reason, who and when; each finding the nurse signed despite shows with her
    reason (QA: the coder saw neither, and queried what the nurse had already explained)."""
    from mar.models import DrugClass, Encounter, FindingAcknowledgement
    from mar.services.charting import order_disposition_set

    encounter = factories.chemo_encounter_create()
    held = factories.order_create(
        encounter, factories.drug_get("carboplatin", DrugClass.CHEMO), dose="AUC 5"
    )
    order_disposition_set(
        order=held, disposition="held", reason="platelets 62 this morning", user=nurse_user
    )
    FindingAcknowledgement.objects.create(
        encounter=encounter, rule="RAC-1", administrations="A1", message="No hydration order",
        reason="verbal order from Dr. Okafor, written order to follow", by=nurse_user,
    )  # fmt: skip
    Encounter.objects.filter(pk=encounter.pk).update(
        status=Encounter.Status.SIGNED, signed_by=nurse_user, signed_at=timezone.now()
    )
    charge_run_generate(encounter_id=encounter.pk)
    html = client_as(roles.CODER).get(reverse("coding:encounter_charges", args=[encounter.pk]))
    page = html.content.decode()
    dispositions = re.findall(r'data-testid="order-disposition">(.*?)</div>', page, re.S)
    held_cell = next(cell for cell in dispositions if cell)
    assert "Held" in held_cell and "platelets 62 this morning" in held_cell
    assert nurse_user.get_username() in held_cell
    acks = re.search(r'data-testid="acknowledgements">(.*?)</ul>', page, re.S)
    assert acks is not None
    assert "RAC-1" in acks.group(1) and "verbal order from Dr. Okafor" in acks.group(1)
