"""Every accepted charge master file is recorded (coding.models.ChargeMasterUpload, written in the
load's transaction by charge_master_import): who, when, which file (name, size, SHA-256), from
which date, and what it changed. A file that changes no price writes no ChargeMasterItem, so
without this record an auditor would find no trace of it: through the upload screen and through
`load_charge_master` it leaves exactly one record saying nothing changed, in the audit trail
too (PostgreSQL). A file that changes prices is audited as before (its versions' events),
with its upload record in the same context; a refused file records nothing."""

import getpass
import hashlib
import io

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from coding.chargemaster import charge_master_load, charge_master_parse
from coding.models import ChargeMasterItem, ChargeMasterUpload
from mar import roles
from tests import factories

pytestmark = pytest.mark.django_db

HEADER = "code,revenue_code,description,unit_price\n"
UPLOAD = reverse("coding:charge_master_upload")
FILE = (HEADER + "96365,0260,IV infusion,310.00\n96413,0335,Chemo IV,520.00\n").encode()


def stored(data: bytes = FILE) -> None:
    """The prices already in effect (loaded without an upload record or context)."""
    charge_master_load(rows=charge_master_parse(data.decode()), effective_from=None)


def lead_client(client):
    lead = factories.user_create(username="cdmlead", role=roles.CODER)
    lead.user_permissions.add(Permission.objects.get(codename="add_payerpolicy"))
    client.force_login(lead)
    return client, lead


def events(model):
    from mar.audit.models import EVENTS

    return EVENTS[model].objects.order_by("pgh_id")


AUDIT_TRAIL = "the audit trail is PostgreSQL's triggers (django-pghistory)"


def test_a_no_op_upload_on_the_screen_is_recorded_once_with_who_the_file_and_nothing_changed(
    client,
):
    stored()
    versions = list(ChargeMasterItem.objects.values_list("pk", "unit_price"))
    client, lead = lead_client(client)
    response = client.post(
        UPLOAD,
        {"file": SimpleUploadedFile("cdm-same.csv", FILE), "effective_from": "2027-01-01"},
        follow=True,
    )
    assert "2 codes: 0 new prices from 2027-01-01, 0 no longer priced, 2 unchanged" in (
        response.content.decode()
    )
    assert list(ChargeMasterItem.objects.values_list("pk", "unit_price")) == versions
    upload = ChargeMasterUpload.objects.get()
    assert upload.uploaded_by == lead
    assert upload.via == ChargeMasterUpload.Via.SCREEN
    assert (upload.file_name, upload.file_size) == ("cdm-same.csv", len(FILE))
    assert upload.file_sha256 == hashlib.sha256(FILE).hexdigest()
    assert upload.effective_from.isoformat() == "2027-01-01"
    assert (upload.codes, upload.added, upload.changed, upload.delisted) == (2, 0, 0, 0)
    assert upload.changed_nothing
    assert "changed nothing" in str(upload)


def test_a_no_op_load_by_the_command_is_recorded_once_with_its_account_and_nothing_changed(
    tmp_path,
):
    stored()
    path = tmp_path / "cdm-same.csv"
    path.write_bytes(FILE)
    out = io.StringIO()
    call_command("load_charge_master", str(path), "--effective-from", "2027-01-01", stdout=out)
    assert "0 new prices from 2027-01-01, 0 no longer priced, 2 unchanged" in out.getvalue()
    upload = ChargeMasterUpload.objects.get()
    assert upload.uploaded_by is None
    assert upload.via == ChargeMasterUpload.Via.COMMAND
    assert upload.system_user == getpass.getuser()
    assert (upload.file_name, upload.file_size) == ("cdm-same.csv", len(FILE))
    assert upload.file_sha256 == hashlib.sha256(FILE).hexdigest()
    assert upload.changed_nothing


def test_an_upload_that_changes_prices_is_recorded_with_what_it_changed(client):
    stored()
    client, lead = lead_client(client)
    repriced = (HEADER + "96365,0260,IV infusion,330.00\n99999,0260,New code,10.00\n").encode()
    client.post(
        UPLOAD,
        {"file": SimpleUploadedFile("cdm-new.csv", repriced), "effective_from": "2027-01-01"},
    )
    upload = ChargeMasterUpload.objects.get()
    # 96365 re-priced, 99999 newly priced, 96413 no longer listed (the box to keep it unticked)
    assert (upload.codes, upload.added, upload.changed, upload.delisted) == (2, 1, 1, 1)
    assert upload.replace and not upload.changed_nothing
    assert upload.uploaded_by == lead


def test_a_refused_file_records_no_upload(client, tmp_path):
    client, _ = lead_client(client)
    bad = (HEADER + "96365,0260,IV infusion,not a price\n").encode()
    client.post(UPLOAD, {"file": SimpleUploadedFile("bad.csv", bad)})
    path = tmp_path / "bad.csv"
    path.write_bytes(bad)
    with pytest.raises(CommandError):
        call_command("load_charge_master", str(path))
    assert not ChargeMasterUpload.objects.exists()


@pytest.mark.postgresql(AUDIT_TRAIL)
def test_a_no_op_upload_on_the_screen_leaves_exactly_one_audit_event_saying_nothing_changed(
    client,
):
    stored()
    client, lead = lead_client(client)
    client.post(
        UPLOAD, {"file": SimpleUploadedFile("cdm-same.csv", FILE), "effective_from": "2027-01-01"}
    )
    (event,) = events(ChargeMasterUpload)
    assert event.pgh_label == "insert"
    assert (event.added, event.changed, event.delisted, event.codes) == (0, 0, 0, 2)
    metadata = event.pgh_context.metadata
    assert metadata["action"] == "charge_master_load"
    assert metadata["user"] == lead.pk
    assert metadata["url"] == UPLOAD
    assert metadata["file"] == "cdm-same.csv"
    assert metadata["file_size"] == len(FILE)
    assert metadata["file_sha256"] == hashlib.sha256(FILE).hexdigest()
    assert metadata["effective_from"] == "2027-01-01"
    assert not events(ChargeMasterItem).filter(pgh_context=event.pgh_context).exists()


@pytest.mark.postgresql(AUDIT_TRAIL)
def test_a_no_op_load_by_the_command_leaves_exactly_one_audit_event_saying_nothing_changed(
    tmp_path,
):
    stored()
    path = tmp_path / "cdm-same.csv"
    path.write_bytes(FILE)
    call_command(
        "load_charge_master", str(path), "--effective-from", "2027-01-01", stdout=io.StringIO()
    )
    (event,) = events(ChargeMasterUpload)
    assert (event.added, event.changed, event.delisted) == (0, 0, 0)
    assert event.via == ChargeMasterUpload.Via.COMMAND
    assert event.pgh_context.metadata["file"] == "cdm-same.csv"
    assert not events(ChargeMasterItem).filter(pgh_context=event.pgh_context).exists()


@pytest.mark.postgresql(AUDIT_TRAIL)
def test_a_real_change_is_still_audited_by_its_versions_with_the_upload_in_the_same_context(
    client,
):
    stored()
    client, lead = lead_client(client)
    repriced = (HEADER + "96365,0260,IV infusion,330.00\n96413,0335,Chemo IV,520.00\n").encode()
    client.post(
        UPLOAD,
        {"file": SimpleUploadedFile("cdm-new.csv", repriced), "effective_from": "2027-01-01"},
    )
    (upload_event,) = events(ChargeMasterUpload)
    assert (upload_event.changed, upload_event.added, upload_event.delisted) == (1, 0, 0)
    (version,) = events(ChargeMasterItem).filter(pgh_context=upload_event.pgh_context)
    assert (version.pgh_label, version.code, str(version.unit_price)) == (
        "insert",
        "96365",
        "330.00",
    )
    assert version.pgh_context.metadata["user"] == lead.pk
    assert version.pgh_context.metadata["file"] == "cdm-new.csv"


def test_the_upload_page_lists_the_files_loaded_a_no_op_one_said_so(client):
    """What the lead sees after loading: each file loaded, newest first, who loaded it (the
    command's account for the command), the file with its size and hash, the date, and what it
    changed; a file that changed nothing says so."""
    client, lead = lead_client(client)
    before = client.get(UPLOAD).content.decode()
    assert 'data-testid="cdm-uploads-none"' in before
    client.post(UPLOAD, {"file": SimpleUploadedFile("cdm-first.csv", FILE)})
    client.post(
        UPLOAD,
        {"file": SimpleUploadedFile("cdm-same.csv", FILE), "effective_from": "2027-01-01"},
    )
    page = client.get(UPLOAD).content.decode()
    rows = page.split('data-testid="cdm-upload"')[1:]
    assert len(rows) == 2
    newest, first = rows
    assert "cdm-same.csv" in newest and "Nothing changed" in newest and "2027-01-01" in newest
    assert "cdm-first.csv" in first and "2 added, 0 re&#8209;priced, 0 no longer priced" in first
    # The first file ever counts from the beginning (coding/chargemaster.py): said in words.
    assert "every date (the first file)" in first and "0001-01-01" not in first
    assert "Nothing changed" not in first
    digest = hashlib.sha256(FILE).hexdigest()
    assert digest[:12] in newest and lead.username in newest
