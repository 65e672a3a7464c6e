"""The charge master screen (coding/chargemaster_views.py): coders read the prices in effect
today with each code's earlier and scheduled versions and the codes no longer priced; an admin
or a coding lead (a coder granted mar.add_payerpolicy) uploads a CSV from a date through the
command's own path (charge_master_import): every bad line named beside the file field, a bad
date beside the date field, nothing loaded on any error, the rows summarised on success with
the encounters it prices anew, the upload in the audit trail with who and the file's name."""

import io
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from coding.chargemaster import BEGINNING, charge_master_import, charge_master_repriced
from coding.models import ChargeMasterItem
from mar import roles
from tests import factories
from tests.coding.review_helpers import reviewed

pytestmark = pytest.mark.django_db

SAMPLE = Path(__file__).resolve().parents[2] / "coding" / "data" / "charge_master_sample.csv"
HEADER = "code,revenue_code,description,unit_price\n"
LIST = reverse("coding:charge_master")
UPLOAD = reverse("coding:charge_master_upload")


def csv_file(*rows: str, name: str = "cdm-2027.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, (HEADER + "".join(r + "\n" for r in rows)).encode())


def load(*rows: str, on: date = BEGINNING, replace: bool = True) -> None:
    charge_master_import(data=HEADER + "".join(r + "\n" for r in rows), effective_from=on,
                         replace=replace)  # fmt: skip


def lead_client(client):
    lead = factories.user_create(username="cdmlead", role=roles.CODER)
    lead.user_permissions.add(Permission.objects.get(codename="add_payerpolicy"))
    client.force_login(lead)
    return client, lead


def errors_of(response, field: str) -> list[str]:
    return list(response.context["form"].errors.get(field, []))


# --- roles ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [roles.NURSE, roles.PHARMACIST, roles.CLERK])
def test_nurses_pharmacists_and_clerks_see_neither_the_list_nor_the_upload(client_as, role):
    client = client_as(role)
    assert client.get(LIST).status_code == 403
    assert client.get(UPLOAD).status_code == 403
    assert client.post(UPLOAD, {"file": csv_file("96365,0260,IV,310")}).status_code == 403
    assert not ChargeMasterItem.objects.exists()


def test_a_coder_reads_the_list_but_is_offered_no_upload_and_is_refused_one(client_as):
    load("96365,0260,IV infusion,310.00")
    client = client_as(roles.CODER)
    page = client.get(LIST)
    assert page.status_code == 200
    assert "96365" in page.content.decode()
    assert 'data-testid="cdm-upload-link"' not in page.content.decode()
    assert client.get(UPLOAD).status_code == 403
    refused = client.post(UPLOAD, {"file": csv_file("96365,0260,IV infusion,999.00")})
    assert refused.status_code == 403
    assert ChargeMasterItem.objects.get().unit_price == Decimal("310.00")


def test_a_coding_lead_and_an_admin_are_offered_the_upload_and_load(client, client_as):
    lead, _ = lead_client(client)
    for who in (lead, client_as(roles.ADMIN)):
        assert 'data-testid="cdm-upload-link"' in who.get(LIST).content.decode()
        assert who.get(UPLOAD).status_code == 200
    tomorrow = timezone.localdate() + timedelta(days=1)
    response = lead.post(UPLOAD, {"file": csv_file("96365,0260,IV,310"), "effective_from": ""})
    assert response.status_code == 302
    response = client_as(roles.ADMIN).post(
        UPLOAD, {"file": csv_file("96365,0260,IV,320"), "effective_from": tomorrow.isoformat()}
    )
    assert response.status_code == 302
    assert [(i.effective_from, i.unit_price) for i in ChargeMasterItem.objects.all()] == [
        (BEGINNING, Decimal("310.00")),
        (tomorrow, Decimal("320.00")),
    ]


# --- the list -------------------------------------------------------------------------------


def test_the_list_shows_todays_price_since_when_the_versions_and_the_codes_no_longer_priced(
    client_as,
):
    today = timezone.localdate()
    past, future = today - timedelta(days=30), today + timedelta(days=60)
    load("96365,0260,IV infusion initial,300.00", "96360,0260,Hydration initial,185.00")
    load("96365,0260,IV infusion initial,310.00", on=past, replace=False)
    load("96365,0260,IV infusion initial,330.00", on=future, replace=False)
    load("96365,0260,IV infusion initial,310.00", "J1234,0636,Scheduled drug,5.00", on=future)
    response = client_as(roles.CODER).get(LIST)
    hydration, iv = response.context["priced"]  # 96360 ends at `future`: priced today
    assert (hydration.code, iv.code) == ("96360", "96365")
    assert (iv.current.unit_price, iv.current.effective_from) == (Decimal("310.00"), past)
    assert [v.unit_price for v in iv.earlier] == [Decimal("300.00")]
    assert [(v.effective_from, v.unit_price) for v in iv.scheduled] == [
        (future, Decimal("310.00"))  # 330 corrected back the same day
    ]
    assert [(v.effective_from, v.listed) for v in hydration.scheduled] == [(future, False)]
    page = response.content.decode()
    assert f"not priced from {future.isoformat()}" in page
    assert f"new price from {future.isoformat()}" in page
    assert "3 versions" in page and "scheduled" in page
    assert [r.code for r in response.context["upcoming"]] == ["J1234"]
    assert response.context["ended"] == []


def test_a_code_delisted_from_a_date_is_listed_as_no_longer_priced_since_then(client_as):
    today = timezone.localdate()
    load("96365,0260,IV,310.00", "96360,0260,Hydration,185.00")
    load("96365,0260,IV,310.00", on=today - timedelta(days=3))
    response = client_as(roles.CODER).get(LIST)
    assert [r.code for r in response.context["priced"]] == ["96365"]
    ended = response.context["ended"]
    assert [(r.code, r.current.effective_from) for r in ended] == [
        ("96360", today - timedelta(days=3))
    ]
    assert 'data-testid="cdm-ended"' in response.content.decode()


def test_the_search_finds_a_code_by_its_beginning_or_by_words_of_its_description(client_as):
    call_command("load_charge_master", stdout=io.StringIO())
    client = client_as(roles.CODER)
    assert [r.code for r in client.get(LIST, {"q": "96365"}).context["priced"]] == ["96365"]
    found = [r.code for r in client.get(LIST, {"q": "hydration additional"}).context["priced"]]
    assert found == ["96361"]
    nothing = client.get(LIST, {"q": "zzzz"})
    assert nothing.context["priced"] == []
    assert "No code priced today matches" in nothing.content.decode()


def test_with_no_charge_master_the_list_says_so(client_as):
    page = client_as(roles.CODER).get(LIST).content.decode()
    assert 'data-testid="cdm-empty"' in page


# --- the upload: errors beside their field, nothing loaded ----------------------------------


def test_every_bad_line_is_named_beside_the_file_field_and_nothing_is_loaded(client_as):
    load("96365,0260,IV,310.00")
    client = client_as(roles.ADMIN)
    response = client.post(
        UPLOAD,
        {
            "file": csv_file(
                "96360,0260,Hydration,185",
                "96361,0260,Hydration more,abc",
                "9636,0260,Bad code,1",
                "96366,26,No rev,70",
            ),
            "effective_from": "2027-01-01",
        },
    )
    assert response.status_code == 200
    errors = errors_of(response, "file")
    assert "Line 3: unit price 'abc' is not an amount like 125.00." in errors
    assert any(e.startswith("Line 4: code '9636'") for e in errors)
    assert any(e.startswith("Line 5: revenue code '26'") for e in errors)
    page = response.content.decode()
    assert "Line 3: unit price &#x27;abc&#x27; is not an amount" in page
    assert "Nothing was loaded" in page
    assert list(ChargeMasterItem.objects.values_list("code", "unit_price")) == [
        ("96365", Decimal("310.00"))
    ]


def test_a_file_that_is_not_utf8_is_named_by_its_line_and_nothing_is_loaded(client_as):
    data = (HEADER + "96365,0260,IV,310\n96360,0260,Hydrati\xf3n,185\n").encode("latin-1")
    response = client_as(roles.ADMIN).post(UPLOAD, {"file": SimpleUploadedFile("cdm.csv", data)})
    assert errors_of(response, "file") == [
        "Line 3: not UTF-8 text (save the spreadsheet as CSV UTF-8)."
    ]
    assert not ChargeMasterItem.objects.exists()


@pytest.mark.parametrize("typed", ["2027-13-45", "next week", "01/02/2027"])
def test_a_date_that_is_not_one_is_named_beside_the_date_field_and_nothing_is_loaded(
    client_as, typed
):
    response = client_as(roles.ADMIN).post(
        UPLOAD, {"file": csv_file("96365,0260,IV,310"), "effective_from": typed}
    )
    assert response.status_code == 200
    assert errors_of(response, "effective_from") == [f"{typed!r} is not a date like 2027-01-01."]
    assert errors_of(response, "file") == []
    assert not ChargeMasterItem.objects.exists()


def test_no_file_is_refused_beside_the_file_field(client_as):
    response = client_as(roles.ADMIN).post(UPLOAD, {"effective_from": "2027-01-01"})
    assert errors_of(response, "file")
    assert not ChargeMasterItem.objects.exists()


def test_the_date_defaults_to_today_in_the_hospitals_zone_once_a_charge_master_is_loaded(
    client_as,
):
    client = client_as(roles.ADMIN)
    assert client.get(UPLOAD).context["form"]["effective_from"].value() is None
    load("96365,0260,IV,310.00")
    form = client.get(UPLOAD).context["form"]
    assert form["effective_from"].value() == timezone.localdate()


# --- the upload: what it did ---------------------------------------------------------------


def test_the_summary_counts_new_prices_codes_no_longer_priced_and_unchanged(client_as):
    load("96365,0260,IV,310.00", "96366,0260,IV more,70.00", "96360,0260,Hydration,185.00",
         "96361,0260,Hydration more,55.00")  # fmt: skip
    response = client_as(roles.ADMIN).post(
        UPLOAD,
        {
            "file": csv_file(
                "96365,0260,IV,320.00",
                "96366,0260,IV more,70.00",
                "96361,0260,Hydration more,55.00",
                "J9267,0636,Paclitaxel,12.00",
                name="cdm-2027.csv",
            ),
            "effective_from": "2027-01-01",
        },
        follow=True,
    )
    page = response.content.decode()
    assert (
        "cdm-2027.csv: 4 codes: 2 new prices from 2027-01-01 (1 of them for codes not priced "
        "then), 1 no longer priced, 2 unchanged."
    ) in page
    assert "re-sent only when the new price is in effect on their date of service" in page


def test_keeping_unlisted_codes_ends_none(client_as):
    load("96365,0260,IV,310.00", "96360,0260,Hydration,185.00")
    client_as(roles.ADMIN).post(
        UPLOAD,
        {"file": csv_file("96365,0260,IV,320.00"), "effective_from": "2027-01-01", "keep": "on"},
    )
    assert ChargeMasterItem.objects.filter(listed=False).count() == 0


def test_the_upload_counts_the_encounters_not_yet_exported_it_prices_anew(client_as):
    load("96360,0260,Hydration,185.00", "96365,0260,IV,310.00", "96366,0260,IV more,70.00",
         "96361,0260,Hydration more,55.00", "96413,0335,Chemo,600.00",
         "96415,0335,Chemo more,150.00", "96375,0260,IV push seq,90.00",
         "J9267,0636,Paclitaxel,12.00")  # fmt: skip
    encounter, run, _ = reviewed()
    codes = sorted({line.code for line in run.lines.all()})
    served = min(line.date for line in run.lines.all())
    assert codes
    on = charge_master_import(
        data=HEADER + f"{codes[0]},0260,Re-priced,999.00\n", effective_from=served, replace=False
    )
    assert charge_master_repriced(on) == {"not_exported": 1, "exported": 0}
    later = charge_master_import(
        data=HEADER + f"{codes[0]},0260,Re-priced,1999.00\n",
        effective_from=served + timedelta(days=1),
        replace=False,
    )
    assert charge_master_repriced(later) == {"not_exported": 0, "exported": 0}
    # Re-priced from the date of service again, the next version (served + 1) bounds it.
    corrected = charge_master_import(
        data=HEADER + f"{codes[0]},0260,Re-priced,555.00\n", effective_from=served, replace=False
    )
    assert corrected.until == {codes[0]: served + timedelta(days=1)}
    assert charge_master_repriced(corrected)["not_exported"] == 1


def test_the_upload_counts_the_encounters_it_prices_anew_in_words(client_as):
    """'1 encounter not yet exported has lines it prices anew', never 'encounter(s)'."""
    load("96360,0260,Hydration,185.00", "96365,0260,IV,310.00", "96366,0260,IV more,70.00",
         "96361,0260,Hydration more,55.00", "96413,0335,Chemo,600.00",
         "96415,0335,Chemo more,150.00", "96375,0260,IV push seq,90.00",
         "J9267,0636,Paclitaxel,12.00")  # fmt: skip
    _, run, _ = reviewed()
    code = min(line.code for line in run.lines.all())
    served = min(line.date for line in run.lines.all())
    response = client_as(roles.ADMIN).post(
        UPLOAD,
        {"file": csv_file(f"{code},0260,Re-priced,999.00"), "effective_from": served.isoformat()},
        follow=True,
    )
    said = " ".join(str(m) for m in response.context["messages"])
    assert "1 encounter not yet exported has lines it prices anew" in said, said
    assert "(s)" not in said


def test_the_same_file_again_changes_nothing_and_says_so(client_as):
    client = client_as(roles.ADMIN)
    data = {"effective_from": "2027-01-01"}
    load("96365,0260,IV,310.00")
    client.post(UPLOAD, {**data, "file": csv_file("96365,0260,IV,320.00")})
    response = client.post(UPLOAD, {**data, "file": csv_file("96365,0260,IV,320.00")}, follow=True)
    assert "1 code: 0 new prices from 2027-01-01, 0 no longer priced, 1 unchanged" in (
        response.content.decode()
    )
    assert ChargeMasterItem.objects.count() == 2


def test_the_command_and_the_screen_load_the_same_way(tmp_path, client_as):
    path = tmp_path / "cdm.csv"
    path.write_bytes(SAMPLE.read_bytes())
    out = io.StringIO()
    call_command("load_charge_master", str(path), stdout=out)
    assert "codes: " in out.getvalue() and "every date of service" in out.getvalue()
    count = ChargeMasterItem.objects.count()
    response = client_as(roles.ADMIN).post(
        UPLOAD,
        {"file": SimpleUploadedFile("same.csv", SAMPLE.read_bytes()), "effective_from": ""},
        follow=True,
    )
    assert f"same.csv: {count} codes: 0 new prices from {timezone.localdate()}" in (
        response.content.decode()
    )
    assert ChargeMasterItem.objects.count() == count


@pytest.mark.postgresql("the audit trail is PostgreSQL's triggers (django-pghistory)")
def test_the_upload_is_in_the_audit_trail_with_who_and_the_files_name(client, settings):
    from mar.audit.models import EVENTS

    client, lead = lead_client(client)
    client.post(UPLOAD, {"file": csv_file("96365,0260,IV,310.00", name="cdm-jan.csv")})
    event = EVENTS[ChargeMasterItem].objects.get(pgh_label="insert")
    metadata = event.pgh_context.metadata
    assert metadata["action"] == "charge_master_load"
    assert metadata["file"] == "cdm-jan.csv"
    assert metadata["user"] == lead.pk
    assert metadata["url"] == UPLOAD


def test_the_first_charge_master_of_all_with_no_date_prices_every_date_of_service(client_as):
    response = client_as(roles.ADMIN).post(
        UPLOAD, {"file": csv_file("96365,0260,IV,310.00"), "effective_from": ""}, follow=True
    )
    assert "1 code: 1 new price for every date of service" in response.content.decode()
    assert ChargeMasterItem.objects.get().effective_from == BEGINNING
