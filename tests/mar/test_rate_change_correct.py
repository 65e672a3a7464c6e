"""A rate change charted wrong is corrected in its row (QA, bedside: a nurse who typed 125 for
152 mL/h, or the wrong time, could only add a later rate change beside the wrong one).

Before the signature each row of "Rate changes" has "correct…" (its rate and its time, checked
as a new rate change is: within the infusion's start and stop, not in the future, more than
0 mL/h, beside the field, what she typed kept) and "remove…" (charted in error, as a flush's);
the card's version is checked, and each change is in the audit trail with the row before and
after (`action` "rate_change_update" / "rate_change_remove"). After the signature each is an
addendum with its reason (`addendum_why_field()`), written in the same transaction, the charges
owed again. On a signed record the add form's empty "At" is not "now": it asks for the time.
"""

import html as html_lib
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from coding.models import ChargeOutbox
from mar import roles
from mar.audit.models import EVENTS
from mar.care_forms import RATE_TIME_MISSING
from mar.models import Addendum, Administration, RateChange
from mar.services import rates
from mar.services.charting import ChartError, RecordSigned, StaleVersion
from mar.services.signature import signature_store
from tests.mar.chart_helpers import local, running_visit

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
NO_REASON = "This record is signed: changes go through an addendum (say why)."


def _page(response) -> str:
    return html_lib.unescape(response.content.decode())


def charted_at_125(
    nurse_user, *, stopped: bool = False
) -> tuple[object, Administration, RateChange]:
    """Carboplatin started 60 min ago at 100 mL/h; a rate change to 125 mL/h (meant: 152)
    charted 40 min ago; stopped 10 min ago when `stopped`."""
    encounter, adm = running_visit()
    fields: dict[str, object] = {"rate_ml_h": Decimal(100)}
    if stopped:
        fields["stop"] = timezone.now() - timedelta(minutes=10)
    Administration.objects.filter(pk=adm.pk).update(**fields)
    adm.refresh_from_db()
    rc = rates.rate_change_record(
        administration=adm,
        rate_ml_h=Decimal(125),
        at=adm.start + timedelta(minutes=20),
        reason="titration per protocol",
        user=nurse_user,
    )
    adm.refresh_from_db()
    return encounter, adm, rc


def signed(encounter, adm, nurse_user) -> Administration:
    signature_store(encounter=encounter, user=nurse_user)
    encounter.refresh_from_db()
    adm.refresh_from_db()
    return adm


def edit_data(rc: RateChange, adm: Administration, **typed: object) -> dict[str, object]:
    """The row's "correct…" form as drawn (the stored rate and time), `typed` over it; the
    addendum's reason only when given (a form drawn on the record in progress has none)."""
    values: dict[str, object] = {
        "rate_ml_h": f"{rc.rate_ml_h.normalize():f}",
        "at": local(rc.at),
        "version": adm.version,
    }
    values.update(typed)
    return {f"rc{rc.pk}-{name}": value for name, value in values.items()}


def _form(page: str, testid: str, start: int = 0) -> str:
    at = page.index(f'data-testid="{testid}"', start)
    return page[at : page.index("</form>", at)]


# --- before the signature ----------------------------------------------------------------------


def test_a_rate_typed_wrong_is_corrected_in_its_row_before_signing(client_as, nurse_user) -> None:
    encounter, adm, rc = charted_at_125(nurse_user)
    url = reverse("mar:rate_update", args=[encounter.pk, rc.pk])
    response = client_as(roles.NURSE).post(url, edit_data(rc, adm, rate_ml_h="152"), **HX)
    assert response.status_code == 200
    saved = RateChange.objects.get(pk=rc.pk)
    assert (saved.rate_ml_h, saved.at, saved.reason) == (Decimal(152), rc.at, rc.reason)
    assert RateChange.objects.filter(administration=adm).count() == 1  # corrected, not added
    assert Administration.objects.get(pk=adm.pk).version == adm.version + 1
    page = _page(response)
    assert "→ 152 mL/h · titration per protocol" in page
    assert "Rate <strong>152 mL/h</strong>" in page  # the rate it runs at now
    assert "Rate change of carboplatin corrected." in page
    assert not Addendum.objects.filter(encounter=encounter).exists()


def test_a_rate_changes_time_charted_wrong_is_corrected_before_signing(
    client_as, nurse_user
) -> None:
    encounter, adm, rc = charted_at_125(nurse_user)
    meant = adm.start + timedelta(minutes=35)
    url = reverse("mar:rate_update", args=[encounter.pk, rc.pk])
    client_as(roles.NURSE).post(url, edit_data(rc, adm, at=local(meant)), **HX)
    saved = RateChange.objects.get(pk=rc.pk)
    assert (saved.at, saved.rate_ml_h) == (meant.replace(second=0, microsecond=0), Decimal(125))


@pytest.mark.parametrize(
    ("when", "said"),
    [
        (lambda adm: adm.start - timedelta(minutes=5), "is before the infusion started"),
        (lambda adm: adm.stop + timedelta(minutes=5), "is after the infusion stopped"),
    ],
    ids=["before-the-start", "after-the-stop"],
)
def test_a_correction_outside_the_infusion_is_refused_beside_the_time_typed_kept(
    client_as, nurse_user, when, said
) -> None:
    encounter, adm, rc = charted_at_125(nurse_user, stopped=True)
    typed = local(when(adm))
    url = reverse("mar:rate_update", args=[encounter.pk, rc.pk])
    data = edit_data(rc, adm, rate_ml_h="152", at=typed)
    page = _page(client_as(roles.NURSE).post(url, data, **HX))
    form = _form(page, "rate-edit-form")
    at_field = form[form.index(f'name="rc{rc.pk}-at"') :]
    assert said in at_field[:900]  # beside the time field
    assert f'value="{typed.replace("T", " ")}"' in form or f'value="{typed}"' in form
    assert f'name="rc{rc.pk}-rate_ml_h" value="152"' in form  # nothing typed lost
    assert f'id="rate-{rc.pk}-edit" open' in page  # the fold stays open
    saved = RateChange.objects.get(pk=rc.pk)
    assert (saved.rate_ml_h, saved.at) == (Decimal(125), rc.at)
    assert Administration.objects.get(pk=adm.pk).version == adm.version


def test_a_correction_with_the_time_or_rate_emptied_is_refused_beside_the_field(
    client_as, nurse_user
) -> None:
    encounter, adm, rc = charted_at_125(nurse_user)
    url = reverse("mar:rate_update", args=[encounter.pk, rc.pk])
    page = _page(client_as(roles.NURSE).post(url, edit_data(rc, adm, at="", rate_ml_h=""), **HX))
    form = _form(page, "rate-edit-form")
    assert RATE_TIME_MISSING in form[form.index(f'name="rc{rc.pk}-at"') :][:900]
    assert "Enter the rate in mL/h." in form[form.index(f'name="rc{rc.pk}-rate_ml_h"') :][:900]
    assert RateChange.objects.get(pk=rc.pk).rate_ml_h == Decimal(125)


def test_a_correction_of_a_rate_to_zero_is_refused_beside_the_rate(nurse_user) -> None:
    _encounter, adm, rc = charted_at_125(nurse_user)
    with pytest.raises(ChartError) as refused:
        rates.rate_change_update(
            rate_change=rc, rate_ml_h=Decimal(0), at=rc.at, version=adm.version, user=nurse_user
        )
    assert list(refused.value.errors) == ["rate_ml_h"]


def test_a_correction_sent_from_a_card_changed_since_is_refused(client_as, nurse_user) -> None:
    encounter, adm, rc = charted_at_125(nurse_user)
    with pytest.raises(StaleVersion):
        rates.rate_change_update(
            rate_change=rc,
            rate_ml_h=Decimal(152),
            at=rc.at,
            version=adm.version - 1,
            user=nurse_user,
        )
    url = reverse("mar:rate_update", args=[encounter.pk, rc.pk])
    data = edit_data(rc, adm, rate_ml_h="152", version=adm.version - 1)
    page = _page(client_as(roles.NURSE).post(url, data, **HX))
    assert "carboplatin was changed meanwhile: check it and try again." in page
    assert RateChange.objects.get(pk=rc.pk).rate_ml_h == Decimal(125)


def test_saving_a_row_as_it_was_writes_nothing(nurse_user) -> None:
    _encounter, adm, rc = charted_at_125(nurse_user)
    rates.rate_change_update(
        rate_change=rc, rate_ml_h=rc.rate_ml_h, at=rc.at, version=adm.version, user=nurse_user
    )
    assert Administration.objects.get(pk=adm.pk).version == adm.version


def test_a_rate_change_charted_in_error_is_removed_before_signing(client_as, nurse_user) -> None:
    encounter, adm, rc = charted_at_125(nurse_user)
    url = reverse("mar:rate_remove", args=[encounter.pk, rc.pk])
    response = client_as(roles.NURSE).post(url, {f"rcx{rc.pk}-version": adm.version}, **HX)
    assert response.status_code == 200
    assert not RateChange.objects.filter(pk=rc.pk).exists()
    page = _page(response)
    assert 'data-testid="rate-changes"' not in page
    assert "Rate <strong>100 mL/h</strong>" in page
    assert not Addendum.objects.filter(encounter=encounter).exists()


def test_a_row_removed_in_another_tab_is_said_on_its_card_not_a_bare_404(
    client_as, nurse_user
) -> None:
    """Tab B removed the row; tab A's "correct…" or "remove…" of it (drawn before) saves
    nothing and answers with the card as it stands, saying the row is no longer there (QA:
    the answer was a 404 and tab A kept showing the row with her typed rate)."""
    encounter, adm, rc = charted_at_125(nurse_user)
    client = client_as(roles.NURSE)
    drawn = _page(client.get(reverse("mar:encounter", args=[encounter.pk])))
    update = reverse("mar:rate_update", args=[encounter.pk, rc.pk]) + f"?card={adm.pk}"
    remove = reverse("mar:rate_remove", args=[encounter.pk, rc.pk]) + f"?card={adm.pk}"
    assert f'action="{update}"' in drawn and f'action="{remove}"' in drawn
    rates.rate_change_remove(rate_change=rc, version=adm.version, user=nurse_user)
    adm.refresh_from_db()
    for url, data in (
        (update, edit_data(rc, adm, rate_ml_h="200")),
        (remove, {f"rcx{rc.pk}-version": adm.version}),
    ):
        response = client.post(url, data, **HX)
        assert response.status_code == 200
        page = _page(response)
        assert "Not saved: that rate change of carboplatin" in page
        assert f'id="adm-{adm.pk}"' in page and 'data-testid="rate-changes"' not in page
    assert not RateChange.objects.filter(administration=adm).exists()
    # A row of no card of this chart: 404 as before.
    bare = reverse("mar:rate_remove", args=[encounter.pk, rc.pk])
    assert client.post(bare, {f"rcx{rc.pk}-version": adm.version}, **HX).status_code == 404


@pytest.mark.postgresql("the audit trail is PostgreSQL's triggers (django-pghistory)")
def test_a_correction_and_a_removal_are_audited_with_the_row_before_and_after(
    client_as, nurse_user
) -> None:
    encounter, adm, rc = charted_at_125(nurse_user)
    client = client_as(roles.NURSE)
    url = reverse("mar:rate_update", args=[encounter.pk, rc.pk])
    client.post(url, edit_data(rc, adm, rate_ml_h="152"), **HX)
    event = EVENTS[RateChange].objects.get(pgh_obj_id=rc.pk, pgh_label="update")
    assert event.rate_ml_h == Decimal(152)
    meta = event.pgh_context.metadata
    assert meta["action"] == "rate_change_update"
    assert meta["before"]["rate_ml_h"] == "125"
    assert meta["after"]["rate_ml_h"] == "152"
    assert meta["user"] == nurse_user.pk
    adm.refresh_from_db()
    client.post(
        reverse("mar:rate_remove", args=[encounter.pk, rc.pk]),
        {f"rcx{rc.pk}-version": adm.version},
        **HX,
    )
    removed = EVENTS[RateChange].objects.get(pgh_obj_id=rc.pk, pgh_label="delete")
    assert removed.pgh_context.metadata["action"] == "rate_change_remove"
    assert removed.pgh_context.metadata["before"]["rate_ml_h"] == "152"


def test_the_chart_draws_each_rate_rows_correction_and_removal_for_the_nurse(
    client_as, nurse_user
) -> None:
    encounter, adm, rc = charted_at_125(nurse_user)
    page = _page(client_as(roles.NURSE).get(reverse("mar:encounter", args=[encounter.pk])))
    form = _form(page, "rate-edit-form")
    assert f'name="rc{rc.pk}-rate_ml_h" value="125"' in form
    assert f'value="{local(rc.at).replace("T", " ")}"' in form
    assert "-addendum_why" not in form
    assert 'data-testid="rate-remove-form"' in page
    # The pharmacist reads the chart: the rows, no forms.
    read = _page(client_as(roles.PHARMACIST).get(reverse("mar:encounter", args=[encounter.pk])))
    assert "→ 125 mL/h · titration per protocol" in read
    assert 'data-testid="rate-edit-form"' not in read


# --- after the signature: by addendum ------------------------------------------------------------


def test_after_signing_a_rate_row_is_corrected_by_addendum_with_its_reason_charges_rerun(
    client_as, nurse_user, django_capture_on_commit_callbacks
) -> None:
    encounter, adm, rc = charted_at_125(nurse_user, stopped=True)
    adm = signed(encounter, adm, nurse_user)
    url = reverse("mar:rate_update", args=[encounter.pk, rc.pk])
    data = edit_data(rc, adm, rate_ml_h="152", addendum_why="pump history read again")
    with django_capture_on_commit_callbacks(execute=False):  # the worker not run yet
        response = client_as(roles.NURSE).post(url, data, **HX)
    assert response.status_code == 200
    assert RateChange.objects.get(pk=rc.pk).rate_ml_h == Decimal(152)
    addendum = Addendum.objects.get(encounter=encounter)
    when = local(rc.at).replace("T", " ")
    assert addendum.what == (f"A{adm.pk} carboplatin rate change of {when}: rate: 125 -> 152 mL/h")
    assert (addendum.why, addendum.author) == ("pump history read again", nurse_user)
    assert ChargeOutbox.objects.filter(encounter=encounter, done_at=None).exists()
    assert "Rate change of carboplatin saved as an addendum." in _page(response)


def test_after_signing_a_correction_without_a_reason_is_refused_beside_it_typed_kept(
    client_as, nurse_user
) -> None:
    encounter, adm, rc = charted_at_125(nurse_user, stopped=True)
    adm = signed(encounter, adm, nurse_user)
    url = reverse("mar:rate_update", args=[encounter.pk, rc.pk])
    data = edit_data(rc, adm, rate_ml_h="152", addendum_why="")
    page = _page(client_as(roles.NURSE).post(url, data, **HX))
    form = _form(page, "rate-edit-form")
    assert NO_REASON in form[form.index(f'name="rc{rc.pk}-addendum_why"') :][:900]
    assert f'name="rc{rc.pk}-rate_ml_h" value="152"' in form
    assert RateChange.objects.get(pk=rc.pk).rate_ml_h == Decimal(125)
    assert not Addendum.objects.filter(encounter=encounter).exists()


def test_after_signing_a_correction_after_the_stop_is_refused_beside_the_time(
    client_as, nurse_user
) -> None:
    encounter, adm, rc = charted_at_125(nurse_user, stopped=True)
    adm = signed(encounter, adm, nurse_user)
    late = local(adm.stop + timedelta(minutes=5))
    url = reverse("mar:rate_update", args=[encounter.pk, rc.pk])
    data = edit_data(rc, adm, at=late, addendum_why="time read again")
    page = _page(client_as(roles.NURSE).post(url, data, **HX))
    form = _form(page, "rate-edit-form")
    assert "is after the infusion stopped" in form[form.index(f'name="rc{rc.pk}-at"') :][:900]
    assert not Addendum.objects.filter(encounter=encounter).exists()


def test_after_signing_a_rate_change_charted_in_error_is_removed_by_addendum(
    client_as, nurse_user
) -> None:
    encounter, adm, rc = charted_at_125(nurse_user, stopped=True)
    adm = signed(encounter, adm, nurse_user)
    url = reverse("mar:rate_remove", args=[encounter.pk, rc.pk])
    client = client_as(roles.NURSE)
    refused = client.post(url, {f"rcx{rc.pk}-version": adm.version, f"rcx{rc.pk}-addendum_why": ""})
    assert NO_REASON in _page(refused)
    assert RateChange.objects.filter(pk=rc.pk).exists()
    data = {f"rcx{rc.pk}-version": adm.version, f"rcx{rc.pk}-addendum_why": "charted twice"}
    client.post(url, data, **HX)
    assert not RateChange.objects.filter(pk=rc.pk).exists()
    addendum = Addendum.objects.get(encounter=encounter)
    assert "removed the rate change at" in addendum.what
    assert addendum.why == "charted twice"


def test_a_correction_from_a_page_drawn_before_the_signature_is_said_not_saved(
    client_as, nurse_user
) -> None:
    encounter, adm, rc = charted_at_125(nurse_user, stopped=True)
    data = edit_data(rc, adm, rate_ml_h="152")  # drawn in progress: no addendum reason
    adm = signed(encounter, adm, nurse_user)
    url = reverse("mar:rate_update", args=[encounter.pk, rc.pk])
    response = client_as(roles.NURSE).post(url, data, **HX)
    assert response.status_code == 409
    assert response["X-MAR-Signed"]
    assert "Rate (mL/h): '152'" in _page(response)
    assert "At: '" not in _page(response)  # only what she changed is said (QA)
    assert RateChange.objects.get(pk=rc.pk).rate_ml_h == Decimal(125)


def test_the_services_refuse_a_signed_rows_change_without_a_reason(nurse_user) -> None:
    encounter, adm, rc = charted_at_125(nurse_user, stopped=True)
    adm = signed(encounter, adm, nurse_user)
    with pytest.raises(RecordSigned):
        rates.rate_change_update(
            rate_change=rc, rate_ml_h=Decimal(152), at=rc.at, version=adm.version, user=nurse_user
        )
    with pytest.raises(RecordSigned):
        rates.rate_change_remove(rate_change=rc, version=adm.version, user=nurse_user)


# --- the add form's empty "At" ------------------------------------------------------------------


def _add_data(adm: Administration, at: str, **more: object) -> dict[str, object]:
    p = f"r{adm.pk}"
    data = {f"{p}-rate_ml_h": "80", f"{p}-at": at, f"{p}-reason": "titration per protocol",
            f"{p}-version": adm.version}  # fmt: skip
    data.update({f"{p}-{k}": v for k, v in more.items()})
    return data


def test_before_signing_the_add_forms_empty_at_is_now(client_as, nurse_user) -> None:
    encounter, adm = running_visit()
    url = reverse("mar:adm_rate", args=[encounter.pk, adm.pk])
    before = timezone.now()
    client_as(roles.NURSE).post(url, _add_data(adm, ""), **HX)
    change = RateChange.objects.get(administration=adm)
    assert before - timedelta(seconds=1) <= change.at <= timezone.now()


def test_on_a_signed_record_the_add_forms_empty_at_asks_for_the_time_beside_it(
    client_as, nurse_user
) -> None:
    encounter, adm, _rc = charted_at_125(nurse_user, stopped=True)
    adm = signed(encounter, adm, nurse_user)
    client = client_as(roles.NURSE)
    drawn = _page(client.get(reverse("mar:encounter", args=[encounter.pk]) + "?addendum=1"))
    assert "(empty: now)" not in _form(drawn, "rate-form")  # no "now" after signing
    url = reverse("mar:adm_rate", args=[encounter.pk, adm.pk])
    data = _add_data(adm, "", addendum_why="missed titration")
    page = _page(client.post(url, data, **HX))
    form = _form(page, "rate-form")
    assert RATE_TIME_MISSING in form[form.index(f'name="r{adm.pk}-at"') :][:900]
    assert "is after the infusion stopped" not in form
    assert f'name="r{adm.pk}-rate_ml_h" value="80"' in form  # nothing typed lost
    assert RateChange.objects.filter(administration=adm).count() == 1
    assert not Addendum.objects.filter(encounter=encounter).exists()


# --- who may ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [roles.PHARMACIST, roles.CODER, roles.CLERK])
def test_only_nurses_correct_or_remove_a_rate_change(client_as, nurse_user, role) -> None:
    encounter, adm, rc = charted_at_125(nurse_user)
    client = client_as(role)
    update = reverse("mar:rate_update", args=[encounter.pk, rc.pk])
    remove = reverse("mar:rate_remove", args=[encounter.pk, rc.pk])
    assert client.post(update, edit_data(rc, adm, rate_ml_h="152")).status_code == 403
    assert client.post(remove, {f"rcx{rc.pk}-version": adm.version}).status_code == 403
    saved = RateChange.objects.get(pk=rc.pk)
    assert saved.rate_ml_h == Decimal(125)


def test_a_rate_change_of_another_encounter_is_not_reachable(client_as, nurse_user) -> None:
    _encounter, adm, rc = charted_at_125(nurse_user)
    other, _adm = running_visit()
    url = reverse("mar:rate_update", args=[other.pk, rc.pk])
    assert client_as(roles.NURSE).post(url, edit_data(rc, adm)).status_code == 404
