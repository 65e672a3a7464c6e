"""The pharmacist's pages: who may see and do what, htmx partials and their plain-POST twins."""

import csv
import io
from datetime import timedelta

import pytest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from mar import roles
from mar.models import Administration, Drug, DrugClassChange, DrugNdc, Encounter, Order
from mar.validators import REASON_IN_WORDS
from tests import factories

pytestmark = pytest.mark.django_db

PHARMACY = {roles.PHARMACIST, roles.ADMIN}
EVERYONE = {roles.PHARMACIST, roles.ADMIN, roles.NURSE, roles.CODER}
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def drug() -> Drug:
    return factories.drug_get("mesna", "therapeutic")


@pytest.fixture
def order() -> Order:
    encounter = factories.encounter_create()
    leuprolide = factories.drug_get("leuprolide", "therapeutic")
    return factories.order_create(encounter, leuprolide, indication="C61", route="im")


# --- permissions: each view, each role, anonymous and a user without a role --------------

# (url name, method, roles allowed). Every pharmacy route is listed: see the last test.
MATRIX = [
    ("pharmacy:worklist", "get", PHARMACY),
    ("pharmacy:formulary", "get", EVERYONE),
    ("pharmacy:formulary_export", "get", EVERYONE),
    ("pharmacy:formulary_import", "get", PHARMACY),
    ("pharmacy:formulary_import", "post", PHARMACY),
    ("pharmacy:drug_new", "get", PHARMACY),
    ("pharmacy:drug_new", "post", PHARMACY),
    ("pharmacy:drug", "get", EVERYONE),
    ("pharmacy:drug_edit", "get", PHARMACY),
    ("pharmacy:drug_edit", "post", PHARMACY),
    ("pharmacy:drug_row", "get", EVERYONE),
    ("pharmacy:drug_ndc_add", "post", PHARMACY),
    ("pharmacy:drug_allergy_classes", "post", PHARMACY),
    ("pharmacy:drug_retire", "post", PHARMACY),
    ("pharmacy:drug_reactivate", "post", PHARMACY),
    ("pharmacy:drug_no_line", "post", PHARMACY),
    ("pharmacy:drug_no_line_undo", "post", PHARMACY),
    ("pharmacy:drug_max_dose", "post", PHARMACY),
    ("pharmacy:drug_max_dose_by_body", "post", PHARMACY),
    ("pharmacy:drug_ndc_retire", "post", PHARMACY),
    ("pharmacy:drug_ndc_reactivate", "post", PHARMACY),
    ("pharmacy:drug_ndc_prefer", "post", PHARMACY),
    ("pharmacy:drug_ndc_update", "post", PHARMACY),
    ("pharmacy:drug_class", "get", PHARMACY),
    ("pharmacy:drug_class", "post", PHARMACY),
    ("pharmacy:orders", "get", PHARMACY),
    ("pharmacy:order_verify", "post", PHARMACY),
    ("pharmacy:order_return", "post", PHARMACY),
    ("pharmacy:order_return_withdraw", "post", PHARMACY),
    ("pharmacy:order_class", "get", PHARMACY),
    ("pharmacy:order_class", "post", PHARMACY),
    ("pharmacy:order_review", "get", PHARMACY),
    ("pharmacy:overrides", "get", PHARMACY),
    ("pharmacy:scan_compliance", "get", PHARMACY),
    ("pharmacy:scan_compliance_export", "get", PHARMACY),
]
ROLES = sorted(EVERYONE)
NDC_ACTIONS = {
    "pharmacy:drug_ndc_retire",
    "pharmacy:drug_ndc_reactivate",
    "pharmacy:drug_ndc_prefer",
    "pharmacy:drug_ndc_update",
}


def url_for(name: str, drug: Drug, order: Order) -> str:
    if name == "pharmacy:drug_new":
        return reverse(name)
    if name in NDC_ACTIONS:  # their pk is the NDC's
        ndc, _ = DrugNdc.objects.get_or_create(drug=drug, ndc="00409488802")
        return reverse(name, kwargs={"pk": ndc.pk})
    if name.startswith("pharmacy:drug"):
        return reverse(name, kwargs={"pk": drug.pk})
    if name.startswith("pharmacy:order_"):
        return reverse(name, kwargs={"pk": order.pk})
    return reverse(name)


@pytest.mark.parametrize(("name", "method", "allowed"), MATRIX)
@pytest.mark.parametrize("role", ROLES)
def test_each_role_is_allowed_or_refused(
    client_as, drug, order, name: str, method: str, allowed: set[str], role: str
) -> None:
    response = getattr(client_as(role), method)(url_for(name, drug, order))
    if role in allowed:
        assert response.status_code in (200, 302, 400), response.status_code
    else:
        assert response.status_code == 403


@pytest.mark.parametrize(("name", "method", "allowed"), MATRIX)
def test_anonymous_users_are_sent_to_login(client, drug, order, name, method, allowed) -> None:
    response = getattr(client, method)(url_for(name, drug, order))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(("name", "method", "allowed"), MATRIX)
def test_a_user_without_a_role_is_refused(client, drug, order, name, method, allowed) -> None:
    client.force_login(factories.user_create(username="norole"))
    assert getattr(client, method)(url_for(name, drug, order)).status_code == 403


def test_the_matrix_covers_every_pharmacy_route() -> None:
    from mar.pharmacy import urls as urls_pharmacy

    names = {f"pharmacy:{pattern.name}" for pattern in urls_pharmacy.urlpatterns}
    assert names == {name for name, _method, _allowed in MATRIX}


@pytest.mark.parametrize("role", [roles.NURSE, roles.CODER])
def test_nurses_and_coders_cannot_tag_override_verify_or_import(
    client_as, drug, order, role
) -> None:
    client = client_as(role)
    untagged = factories.drug_get("teprotumumab", None)
    client.post(reverse("pharmacy:drug_class", args=[untagged.pk]), {"drug_class": "chemo"})
    client.post(
        reverse("pharmacy:drug_class", args=[drug.pk]),
        {"drug_class": "chemo", "reason": "alkylating agent per the label"},
    )
    client.post(
        reverse("pharmacy:order_class", args=[order.pk]),
        {"drug_class": "chemo_hormonal", "reason": "prostate cancer, not IVF"},
    )
    client.post(reverse("pharmacy:order_verify", args=[order.pk]))
    untagged.refresh_from_db()
    drug.refresh_from_db()
    order.refresh_from_db()
    assert untagged.drug_class is None
    assert drug.drug_class == "therapeutic"
    assert order.class_override is None
    assert order.verified_at is None
    assert not DrugClassChange.objects.exists()


@pytest.mark.parametrize("reason", ["x", "??", "1"])
def test_a_class_change_or_override_with_a_reason_not_in_words_is_refused_beside_it(
    client_as, drug, order, reason
) -> None:
    """A drug's class change re-bills every signed visit using it, an order's override its own:
    their reason is kept in the audit trail, so it says why in words (mar.validators: a few
    letters at least), beside the field, the class chosen kept; nothing changes."""
    client = client_as(roles.PHARMACIST)
    changed = client.post(
        reverse("pharmacy:drug_class", args=[drug.pk]),
        {"drug_class": "chemo", "reason": reason, "origin": "formulary"},
        **HTMX,
    )
    assert REASON_IN_WORDS in changed.content.decode()
    overridden = client.post(
        reverse("pharmacy:order_class", args=[order.pk]),
        {"drug_class": "chemo_hormonal", "reason": reason},
    )
    assert overridden.status_code == 200
    assert overridden.context["form"].errors == {"reason": [REASON_IN_WORDS]}
    assert '<option value="chemo_hormonal" selected>' in overridden.content.decode()
    drug.refresh_from_db()
    order.refresh_from_db()
    assert (drug.drug_class, order.class_override) == ("therapeutic", None)
    assert not DrugClassChange.objects.exists()
    client.post(
        reverse("pharmacy:order_class", args=[order.pk]),
        {"drug_class": "chemo_hormonal", "reason": "prostate cancer, not IVF"},
    )
    order.refresh_from_db()
    assert order.class_override == "chemo_hormonal"


def test_the_verify_endpoint_takes_only_posts(client_as, order) -> None:
    response = client_as(roles.PHARMACIST).get(reverse("pharmacy:order_verify", args=[order.pk]))
    assert response.status_code == 405


# --- the worklist -------------------------------------------------------------------------


def test_the_worklist_lists_only_untagged_drugs_with_their_orders(client_as, drug) -> None:
    untagged = factories.drug_get("teprotumumab", None)
    encounter = factories.encounter_create()
    factories.order_create(encounter, untagged)
    response = client_as(roles.PHARMACIST).get(reverse("pharmacy:worklist"))
    assert [d.name for d in response.context["untagged"]] == ["teprotumumab"]
    assert response.context["untagged"][0].order_count == 1
    assert b'data-drug="teprotumumab"' in response.content
    assert b'data-drug="mesna"' not in response.content


def test_a_drug_appears_on_the_worklist_as_soon_as_an_order_names_it(client_as) -> None:
    from mar.pharmacy.services import order_create

    order_create(encounter=factories.encounter_create(), drug_name="Tepezza-new")
    response = client_as(roles.PHARMACIST).get(reverse("pharmacy:worklist"))
    assert [d.name for d in response.context["untagged"]] == ["Tepezza-new"]


def test_tagging_from_the_worklist_by_plain_post_redirects_back(client_as) -> None:
    untagged = factories.drug_get("teprotumumab", None)
    response = client_as(roles.PHARMACIST).post(
        reverse("pharmacy:drug_class", args=[untagged.pk]),
        {"drug_class": "therapeutic", "reason": "IGF-1R antibody", "origin": "worklist"},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("pharmacy:worklist")
    untagged.refresh_from_db()
    assert (untagged.drug_class, untagged.class_note) == ("therapeutic", "IGF-1R antibody")


def test_tagging_from_the_worklist_by_htmx_answers_the_done_card(client_as) -> None:
    untagged = factories.drug_get("teprotumumab", None)
    response = client_as(roles.PHARMACIST).post(
        reverse("pharmacy:drug_class", args=[untagged.pk]),
        {"drug_class": "therapeutic", "reason": "IGF-1R antibody", "origin": "worklist"},
        **HTMX,
    )
    assert response.status_code == 200
    assert b'data-testid="tagged-drug"' in response.content
    assert b"<html" not in response.content
    untagged.refresh_from_db()
    assert untagged.drug_class == "therapeutic"


def test_tagging_from_the_worklist_by_htmx_updates_the_recent_decisions_out_of_band(
    client_as,
) -> None:
    """The page is not reloaded: "Recent class decisions" must not go on saying "None yet"."""
    untagged = factories.drug_get("teprotumumab", None)
    client = client_as(roles.PHARMACIST)
    assert "None yet." in client.get(reverse("pharmacy:worklist")).content.decode()
    response = client.post(
        reverse("pharmacy:drug_class", args=[untagged.pk]),
        {"drug_class": "therapeutic", "reason": "IGF-1R antibody", "origin": "worklist"},
        **HTMX,
    )
    body = response.content.decode()
    section = body[body.index('<section id="recent-class-decisions"') :]
    assert section.startswith('<section id="recent-class-decisions"')
    assert 'hx-swap-oob="true"' in section[: section.index(">")]
    assert "None yet." not in section
    assert "teprotumumab" in section and "IGF-1R antibody" in section
    assert section.count('data-testid="class-decision"') == 1


def test_tagging_without_a_class_keeps_the_card_with_an_error(client_as) -> None:
    untagged = factories.drug_get("teprotumumab", None)
    response = client_as(roles.PHARMACIST).post(
        reverse("pharmacy:drug_class", args=[untagged.pk]),
        {"drug_class": "", "origin": "worklist"},
        **HTMX,
    )
    assert b'data-testid="untagged-drug"' in response.content
    assert b"invalid-feedback" in response.content
    untagged.refresh_from_db()
    assert untagged.drug_class is None


# --- the formulary table ------------------------------------------------------------------


def test_the_formulary_is_searchable_by_name_synonym_and_hcpcs(client_as) -> None:
    carboplatin = factories.drug_get("carboplatin", "chemo")
    Drug.objects.filter(pk=carboplatin.pk).update(synonyms="Paraplatin", hcpcs_code="J9045")
    factories.drug_get("mesna", "therapeutic")
    client = client_as(roles.NURSE)
    for query in ("carbo", "paraPLATIN", "j9045"):
        response = client.get(reverse("pharmacy:formulary"), {"q": query})
        assert [d.name for d in response.context["drugs"]] == ["carboplatin"], query
    assert len(client.get(reverse("pharmacy:formulary")).context["drugs"]) == 2


def test_the_htmx_search_answers_only_the_rows(client_as, drug) -> None:
    response = client_as(roles.CODER).get(
        reverse("pharmacy:formulary"), {"q": "mes"}, HTTP_HX_TARGET="formulary-rows", **HTMX
    )
    assert b"<html" not in response.content
    assert b'data-drug="mesna"' in response.content


def test_readers_see_no_change_button_pharmacists_do(client_as, drug) -> None:
    change_url = reverse("pharmacy:drug_class", args=[drug.pk]).encode()
    assert change_url not in client_as(roles.NURSE).get(reverse("pharmacy:formulary")).content
    assert change_url not in client_as(roles.CODER).get(reverse("pharmacy:formulary")).content
    assert change_url in client_as(roles.PHARMACIST).get(reverse("pharmacy:formulary")).content


def test_the_inline_edit_row_comes_by_htmx_and_the_plain_page_without(client_as, drug) -> None:
    client = client_as(roles.PHARMACIST)
    url = reverse("pharmacy:drug_class", args=[drug.pk])
    inline = client.get(url, **HTMX)
    assert b'data-testid="drug-row-edit"' in inline.content
    assert b"<html" not in inline.content
    page = client.get(url)
    assert b"<html" in page.content
    assert b'name="reason"' in page.content
    row = client.get(reverse("pharmacy:drug_row", args=[drug.pk]), **HTMX)
    assert b'data-testid="drug-row"' in row.content


def test_a_class_change_without_a_reason_is_refused_inline(client_as, drug) -> None:
    response = client_as(roles.PHARMACIST).post(
        reverse("pharmacy:drug_class", args=[drug.pk]),
        {"drug_class": "chemo", "reason": ""},
        **HTMX,
    )
    assert b'data-testid="reason-error"' in response.content
    drug.refresh_from_db()
    assert drug.drug_class == "therapeutic"
    assert not DrugClassChange.objects.exists()


def test_a_class_change_without_a_reason_is_refused_by_plain_post(client_as, drug) -> None:
    response = client_as(roles.PHARMACIST).post(
        reverse("pharmacy:drug_class", args=[drug.pk]), {"drug_class": "chemo"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["reason"]
    drug.refresh_from_db()
    assert drug.drug_class == "therapeutic"


def test_a_class_changed_from_the_drugs_page_goes_back_to_the_drugs_page(client_as, drug) -> None:
    """ "Change" beside the class on a drug's page (?origin=drug): cancelled or saved, the
    pharmacist is back on that drug's page, not on the formulary (QA walkthrough)."""
    client = client_as(roles.PHARMACIST)
    page = reverse("pharmacy:drug", args=[drug.pk])
    url = reverse("pharmacy:drug_class", args=[drug.pk])
    assert f'href="{url}?origin=drug"' in client.get(page).content.decode()
    form = client.get(url, {"origin": "drug"}).content.decode()
    assert f'href="{page}">Cancel' in form and 'name="origin" value="drug"' in form
    saved = client.post(url, {"drug_class": "chemo", "reason": "protocol", "origin": "drug"})
    assert saved.status_code == 302 and saved.headers["Location"] == page
    drug.refresh_from_db()
    assert drug.drug_class == "chemo"
    again = client.post(url, {"drug_class": "therapeutic", "reason": "label"})
    assert again.headers["Location"] == reverse("pharmacy:formulary")


def test_a_refused_class_says_what_is_missing_in_words(client_as, drug, order) -> None:
    """Beside the field, what to do: not Django's "This field is required." (walk19)."""
    client = client_as(roles.PHARMACIST)
    change = client.post(reverse("pharmacy:drug_class", args=[drug.pk]),
                         {"drug_class": "chemo", "reason": "   "}, **HTMX)  # fmt: skip
    assert "Say why mesna changes class" in change.content.decode()
    untagged = factories.drug_get("teprotumumab", None)
    tag = client.post(reverse("pharmacy:drug_class", args=[untagged.pk]),
                      {"drug_class": "", "origin": "worklist"}, **HTMX)  # fmt: skip
    assert "Choose a class for teprotumumab." in tag.content.decode()
    override = client.post(
        reverse("pharmacy:order_class", args=[order.pk]), {"drug_class": "chemo_hormonal"}
    )
    assert override.context["form"].errors["reason"] == [
        "Say why this order's class differs from its drug's."
    ]
    for response in (change, tag, override):
        assert "This field is required." not in response.content.decode()


def test_a_class_change_with_a_reason_answers_the_row_by_htmx(
    client_as, drug, pharmacist_user
) -> None:
    response = client_as(roles.PHARMACIST).post(
        reverse("pharmacy:drug_class", args=[drug.pk]),
        {"drug_class": "chemo", "reason": "now an antineoplastic"},
        **HTMX,
    )
    assert b'data-testid="drug-row"' in response.content
    assert b"Chemotherapy" in response.content
    change = DrugClassChange.objects.get()
    assert (change.from_class, change.to_class, change.by) == (
        "therapeutic",
        "chemo",
        pharmacist_user,
    )


def test_a_class_change_by_plain_post_redirects_to_the_formulary(client_as, drug) -> None:
    response = client_as(roles.ADMIN).post(
        reverse("pharmacy:drug_class", args=[drug.pk]),
        {"drug_class": "chemo", "reason": "alkylating agent per the label"},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("pharmacy:formulary")
    drug.refresh_from_db()
    assert drug.drug_class == "chemo"


def test_the_drug_page_shows_the_class_history(client_as, drug, pharmacist_user) -> None:
    from mar.pharmacy.services import drug_class_change

    drug_class_change(drug=drug, to_class="chemo", reason="evidence X", user=pharmacist_user)
    response = client_as(roles.CODER).get(reverse("pharmacy:drug", args=[drug.pk]))
    assert b'data-testid="class-change"' in response.content
    assert b"evidence X" in response.content


# --- CSV ----------------------------------------------------------------------------------


def test_the_export_is_a_csv_download(client_as, drug) -> None:
    response = client_as(roles.NURSE).get(reverse("pharmacy:formulary_export"))
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    lines = list(csv.reader(io.StringIO(response.content.decode(), newline="")))
    assert lines[0] == (
        "name,synonyms,class,hcpcs,billing_unit,note,container,retired_on,retired_reason".split(",")
    )
    assert lines[1][:3] == ["mesna", "", "therapeutic"]


def upload(text: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("formulary.csv", text.encode(), content_type="text/csv")


def test_an_import_with_bad_rows_shows_each_line_and_imports_nothing(client_as) -> None:
    text = (
        "name,synonyms,class,hcpcs,billing_unit,note\n"
        "carboplatin,,chemo,J9045,50 mg,\n"
        ",,chemo,J9045,50 mg,\n"
        "x,,bogus,J9045,50 mg,\n"
    )
    response = client_as(roles.PHARMACIST).post(
        reverse("pharmacy:formulary_import"), {"file": upload(text)}
    )
    assert response.status_code == 400
    assert b"Nothing was imported" in response.content
    assert b"line 3: name is missing" in response.content
    assert b"line 4: unknown class" in response.content
    assert not Drug.objects.exists()


def test_a_good_import_redirects_to_the_formulary(client_as) -> None:
    text = (
        "name,synonyms,class,hcpcs,billing_unit,note\n"
        "carboplatin,,chemo,J9045,50 mg,antineoplastic\n"
    )
    response = client_as(roles.PHARMACIST).post(
        reverse("pharmacy:formulary_import"), {"file": upload(text)}
    )
    assert response.status_code == 302
    assert Drug.objects.get().billing_unit_label == "50 mg"


# --- orders: verification and overrides ---------------------------------------------------


def test_the_queue_lists_unverified_orders(client_as, order) -> None:
    response = client_as(roles.PHARMACIST).get(reverse("pharmacy:orders"))
    assert list(response.context["unverified"]) == [order]
    assert f'id="order-{order.pk}"'.encode() in response.content


def test_the_queue_shows_an_orders_purpose(client_as, order) -> None:
    """A fluid ordered for hydration (RAC-1) says so on the queue, where the pharmacist verifies
    it (QA: the purpose was on the chart and the coder's record, not here)."""
    html = client_as(roles.PHARMACIST).get(reverse("pharmacy:orders")).content.decode()
    assert 'data-testid="order-purpose"' not in html
    order.purpose = "hydration"
    order.save()
    html = client_as(roles.PHARMACIST).get(reverse("pharmacy:orders")).content.decode()
    assert "for hydration</span>" in html


def test_the_worklist_counts_orders_to_verify_as_the_queue_heads_them(client_as, order) -> None:
    """The worklist said "4 orders to verify" where the queue's heading said 1: the other 3 were
    on records signed before verification, listed apart there. It says both, apart."""
    leuprolide = order.drug
    for _ in range(3):
        visit = factories.encounter_create()
        given = factories.order_create(visit, leuprolide, indication="C61", route="im")
        factories.administration_create(
            visit, given, site=None, start=visit.arrived_at, stop=None, method="injection"
        )
        Encounter.objects.filter(pk=visit.pk).update(status=Encounter.Status.SIGNED)
    client = client_as(roles.PHARMACIST)
    queue = client.get(reverse("pharmacy:orders"))
    assert len(queue.context["unverified"]) == 1
    html = client.get(reverse("pharmacy:worklist")).content.decode()
    assert "1 order to verify, and 3 on records signed before verification" in html


def test_verifying_by_plain_post_redirects_to_the_queue(client_as, order, pharmacist_user) -> None:
    response = client_as(roles.PHARMACIST).post(reverse("pharmacy:order_verify", args=[order.pk]))
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.verified_by == pharmacist_user
    queue = client_as(roles.PHARMACIST).get(reverse("pharmacy:orders"))
    assert list(queue.context["unverified"]) == []
    assert list(queue.context["verified"]) == [order]


def test_verifying_by_htmx_answers_the_row_with_the_check_mark(client_as, order) -> None:
    response = client_as(roles.PHARMACIST).post(
        reverse("pharmacy:order_verify", args=[order.pk]), **HTMX
    )
    assert b'data-testid="order-verified"' in response.content
    assert b"pharm1" in response.content


def test_an_override_by_plain_post_is_saved_with_its_reason(
    client_as, order, pharmacist_user
) -> None:
    response = client_as(roles.PHARMACIST).post(
        reverse("pharmacy:order_class", args=[order.pk]),
        {"drug_class": "chemo_hormonal", "reason": "prostate cancer"},
    )
    assert response.status_code == 302
    order.refresh_from_db()
    assert (order.class_override, order.class_override_reason) == (
        "chemo_hormonal",
        "prostate cancer",
    )
    assert DrugClassChange.objects.get().order == order


def test_an_override_without_a_reason_is_refused(client_as, order) -> None:
    response = client_as(roles.PHARMACIST).post(
        reverse("pharmacy:order_class", args=[order.pk]), {"drug_class": "chemo_hormonal"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["reason"]
    order.refresh_from_db()
    assert order.class_override is None


# --- the verification partial others include ----------------------------------------------


def test_the_verified_partial_shows_who_and_when(order, pharmacist_user) -> None:
    html = render_to_string("pharmacy/_verified.html", {"order": order})
    assert 'data-testid="order-unverified"' in html
    order.verified_by = pharmacist_user
    order.verified_at = timezone.now() - timedelta(minutes=5)
    order.class_override = "chemo_hormonal"
    html = render_to_string("pharmacy/_verified.html", {"order": order})
    assert 'data-testid="order-verified"' in html
    assert "pharm1" in html
    assert timezone.localtime(order.verified_at).strftime("%Y-%m-%d %H:%M") in html
    assert "Class override: Hormonal antineoplastic" in html


def test_the_nav_links_each_role_to_the_pharmacy_pages(client_as) -> None:
    worklist = reverse("pharmacy:worklist").encode()
    formulary = reverse("pharmacy:formulary").encode()
    pharmacist_page = client_as(roles.PHARMACIST).get(reverse("pharmacy:formulary")).content
    assert b'href="' + worklist + b'"' in pharmacist_page
    nurse_page = client_as(roles.NURSE).get(reverse("pharmacy:formulary")).content
    # On the formulary the nurse's Formulary link is the section she is in (walk20).
    assert b'class="nav-link active" aria-current="true" href="' + formulary + b'"' in nurse_page


def test_the_pages_stay_usable_with_an_administration_of_an_untagged_drug(client_as) -> None:
    untagged = factories.drug_get("teprotumumab", None)
    encounter = factories.encounter_create()
    order = factories.order_create(encounter, untagged)
    factories.administration_create(
        encounter, order, site=None, start=factories.MORNING, stop=None,
        method=Administration.Method.INFUSION,
    )  # fmt: skip
    response = client_as(roles.PHARMACIST).get(reverse("pharmacy:worklist"))
    assert response.status_code == 200
    assert response.context["untagged"][0].blocked_count == 0


# --- adding and editing drugs -------------------------------------------------------------


def test_a_pharmacist_adds_a_drug_tagged_at_once(client_as, pharmacist_user) -> None:
    response = client_as(roles.PHARMACIST).post(
        reverse("pharmacy:drug_new"),
        {
            "name": "teprotumumab",
            "synonyms": "Tepezza",
            "hcpcs": "j3241",
            "billing_unit": "10 mg",
            "note": "IGF-1R antibody, not antineoplastic here",
            "drug_class": "therapeutic",
        },
    )
    drug = Drug.objects.get(name="teprotumumab")
    assert response.status_code == 302
    assert response["Location"] == reverse("pharmacy:drug", args=[drug.pk])
    assert (drug.hcpcs_code, drug.billing_unit_label, drug.drug_class) == (
        "J3241",
        "10 mg",
        "therapeutic",
    )
    assert DrugClassChange.objects.get(drug=drug).by == pharmacist_user


def test_a_drug_form_refuses_what_the_import_refuses(client_as, drug) -> None:
    response = client_as(roles.PHARMACIST).post(
        reverse("pharmacy:drug_new"),
        {"name": "MESNA", "hcpcs": "9209", "billing_unit": "200mg", "note": ""},
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {"name", "hcpcs", "billing_unit"}
    assert Drug.objects.count() == 1


def test_editing_a_drug_keeps_its_class(client_as, drug) -> None:
    client = client_as(roles.PHARMACIST)
    page = client.get(reverse("pharmacy:drug_edit", args=[drug.pk]))
    assert "drug_class" not in page.context["form"].fields
    response = client.post(
        reverse("pharmacy:drug_edit", args=[drug.pk]),
        {"name": "mesna", "synonyms": "Mesnex", "hcpcs": "J9209", "billing_unit": "200 mg",
         "note": "chemoprotectant", "drug_class": "chemo", "reason": "label: per 200 mg"},
    )  # fmt: skip
    assert response.status_code == 302
    drug.refresh_from_db()
    assert (drug.synonyms, drug.billing_unit_label, drug.drug_class) == (
        "Mesnex",
        "200 mg",
        "therapeutic",
    )


def test_pharmacist_edit_form_saves_the_container(client_as, drug) -> None:
    client = client_as(roles.PHARMACIST)
    url = reverse("pharmacy:drug_edit", args=[drug.pk])
    page = client.get(url)
    assert page.context["form"]["container"].value() == ""
    assert b'name="container"' in page.content
    fields = {"name": "mesna", "synonyms": "", "hcpcs": "J9209", "billing_unit": "200 mg",
              "note": "", "reason": "FDA label: single-dose vial"}  # fmt: skip
    response = client.post(url, {**fields, "container": "multi_dose"})
    assert response.status_code == 302
    drug.refresh_from_db()
    assert drug.container == Drug.Container.MULTI_DOSE
    assert client.get(url).context["form"]["container"].value() == "multi_dose"
    detail = client.get(reverse("pharmacy:drug", args=[drug.pk])).content.decode()
    assert "Multi-dose container" in detail
    # Back to not stated.
    assert client.post(url, {**fields, "container": ""}).status_code == 302
    drug.refresh_from_db()
    assert drug.container == ""


def test_pharmacist_add_form_saves_the_container(client_as) -> None:
    response = client_as(roles.PHARMACIST).post(
        reverse("pharmacy:drug_new"),
        {"name": "rituximab", "hcpcs": "J9312", "billing_unit": "10 mg",
         "note": "NCCN Compendium", "container": "single_dose", "drug_class": "chemo"},
    )  # fmt: skip
    assert response.status_code == 302
    assert Drug.objects.get(name="rituximab").container == Drug.Container.SINGLE_DOSE


def test_pharmacist_edit_form_refuses_an_unknown_container(client_as, drug) -> None:
    response = client_as(roles.PHARMACIST).post(
        reverse("pharmacy:drug_edit", args=[drug.pk]),
        {"name": "mesna", "hcpcs": "J9209", "billing_unit": "200 mg", "container": "vial"},
    )
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"container"}
    drug.refresh_from_db()
    assert drug.container == ""


def test_the_formulary_table_shows_the_container(client_as, drug) -> None:
    Drug.objects.filter(pk=drug.pk).update(hcpcs_code="J9209")
    page = client_as(roles.NURSE).get(reverse("pharmacy:formulary")).content.decode()
    assert "container not stated" in page
    Drug.objects.filter(pk=drug.pk).update(container=Drug.Container.SINGLE_DOSE)
    page = client_as(roles.NURSE).get(reverse("pharmacy:formulary")).content.decode()
    assert "Single-dose container" in page


def test_orders_of_signed_records_are_listed_apart_and_verified_after_they_were_given(
    client_as, order, pharmacist_user
) -> None:
    """Given, then signed before anyone verified it (an emergency order): listed apart and
    verified after; an order of that record never given (here held: QA, a returned order the
    nurse held was listed with a Verify button) has nothing to verify after the fact and is not
    listed, nor counted on the pharmacy's start page."""
    from mar.models import Encounter

    factories.administration_create(
        order.encounter, order, site=None, start=order.encounter.arrived_at, stop=None,
        method="injection",
    )  # fmt: skip
    never_given = factories.order_create(
        order.encounter, factories.drug_get("carboplatin", "chemo"), dose="AUC 5",
        disposition="held", disposition_reason="platelets low",
    )  # fmt: skip
    Encounter.objects.filter(pk=order.encounter_id).update(status=Encounter.Status.SIGNED)
    client = client_as(roles.PHARMACIST)
    response = client.get(reverse("pharmacy:orders"))
    assert list(response.context["unverified"]) == []
    assert list(response.context["signed_unverified"]) == [order]
    assert reverse("pharmacy:order_verify", args=[never_given.pk]).encode() not in (
        response.content
    )
    start = client.get(reverse("pharmacy:worklist"))
    assert start.context["signed_unverified_count"] == 1
    url = reverse("pharmacy:order_verify", args=[order.pk])
    assert url.encode() in response.content
    row = client.post(url, HTTP_HX_REQUEST="true").content.decode()
    assert 'data-testid="order-verified"' in row and url not in row
    order.refresh_from_db()
    assert order.verified_at is not None
    assert order.verified_by == pharmacist_user


# --- a drug's packages (NDC) ----------------------------------------------------------------


def test_a_pharmacist_adds_a_drugs_ndc_typed_as_on_the_label_and_it_is_shown(
    client_as, drug
) -> None:
    client = client_as(roles.PHARMACIST)
    response = client.post(
        reverse("pharmacy:drug_ndc_add", args=[drug.pk]),
        {"ndc": "0409-4888-02", "package_description": "10 mL vial", "unit": "ML",
         "units_per_billing_unit": "10", "preferred": "on"},
    )  # fmt: skip
    assert response.status_code == 302
    ndc = DrugNdc.objects.get(drug=drug)
    assert (ndc.ndc, ndc.unit, ndc.preferred) == ("00409488802", "ML", True)
    page = client.get(reverse("pharmacy:drug", args=[drug.pk])).content.decode()
    assert "00409-4888-02" in page and "10 mL vial" in page
    assert "<td>10</td>" in page  # the units per billing unit as typed, not 10.0000


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("1234-5678", "An NDC is 11 digits (5-4-2)"),
        ("", "Enter the NDC on the package."),
        ("00409-4888-02", "is already listed for mesna"),
    ],
)
def test_a_bad_or_duplicate_ndc_is_said_beside_the_field_and_what_was_typed_is_kept(
    client_as, drug, typed, said
) -> None:
    DrugNdc.objects.create(drug=drug, ndc="00409488802")
    response = client_as(roles.PHARMACIST).post(
        reverse("pharmacy:drug_ndc_add", args=[drug.pk]),
        {"ndc": typed, "package_description": "typed package", "unit": "UN"},
    )
    assert response.status_code == 400
    form = response.context["ndc_form"]
    assert said in " ".join(form.errors["ndc"])
    assert 'value="typed package"' in response.content.decode()
    assert DrugNdc.objects.filter(drug=drug).count() == 1


def test_an_ndc_another_drug_lists_is_refused_a_scan_names_one_drug(client_as, drug) -> None:
    other = factories.drug_get("ondansetron")
    DrugNdc.objects.create(drug=other, ndc="99999000110")
    response = client_as(roles.PHARMACIST).post(
        reverse("pharmacy:drug_ndc_add", args=[drug.pk]), {"ndc": "99999-0001-10", "unit": "UN"}
    )
    assert response.status_code == 400
    assert "is listed for ondansetron" in " ".join(response.context["ndc_form"].errors["ndc"])
    assert not DrugNdc.objects.filter(drug=drug).exists()


def test_a_new_preferred_ndc_takes_the_place_of_the_drugs_previous_one(client_as, drug) -> None:
    first = DrugNdc.objects.create(drug=drug, ndc="00409488802", preferred=True)
    client_as(roles.PHARMACIST).post(
        reverse("pharmacy:drug_ndc_add", args=[drug.pk]),
        {"ndc": "00409-4888-10", "unit": "UN", "preferred": "on"},
    )
    first.refresh_from_db()
    assert not first.preferred
    assert DrugNdc.objects.get(drug=drug, preferred=True).ndc == "00409488810"


@pytest.mark.parametrize("role", [roles.NURSE, roles.CODER])
def test_nurses_and_coders_see_a_drugs_ndcs_without_the_form(client_as, drug, role) -> None:
    DrugNdc.objects.create(drug=drug, ndc="00409488802")
    page = client_as(role).get(reverse("pharmacy:drug", args=[drug.pk])).content.decode()
    assert "00409-4888-02" in page
    assert 'data-testid="ndc-form"' not in page
