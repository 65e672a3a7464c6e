"""Signing enqueues charge generation only once the signature is committed."""

from unittest import mock

import pytest
from django.core.exceptions import ValidationError

from mar.models import Encounter
from mar.services.signature import addendum_store, signature_store
from tests.mar.chart_helpers import SIGN_CONFIRMED

pytestmark = pytest.mark.django_db


def test_signing_enqueues_charges_on_commit(
    chemo_encounter, nurse_user, django_capture_on_commit_callbacks
) -> None:
    # The task goes through the charge outbox (coding/outbox.py): a row written with the
    # signature, the task sent after commit with the row's id.
    with mock.patch("coding.tasks.generate_charges.apply_async") as apply_async:
        with django_capture_on_commit_callbacks() as callbacks:
            signature_store(encounter=chemo_encounter, user=nurse_user)
            assert not apply_async.called
        assert len(callbacks) == 1
        callbacks[0]()
    outbox = chemo_encounter.charge_outbox.get()
    apply_async.assert_called_once()
    assert apply_async.call_args.kwargs["args"] == (chemo_encounter.pk, "sign", "")
    assert apply_async.call_args.kwargs["kwargs"] == {"outbox_id": outbox.pk}
    chemo_encounter.refresh_from_db()
    assert chemo_encounter.status == Encounter.Status.SIGNED
    assert chemo_encounter.signed_by == nurse_user
    assert chemo_encounter.signed_at is not None


def test_a_signed_record_cannot_be_signed_again(chemo_encounter, nurse_user) -> None:
    signature_store(encounter=chemo_encounter, user=nurse_user)
    with pytest.raises(ValidationError):
        signature_store(encounter=chemo_encounter, user=nurse_user)


def test_an_addendum_needs_a_signed_record(chemo_encounter, nurse_user) -> None:
    with pytest.raises(ValidationError):
        addendum_store(encounter=chemo_encounter, user=nurse_user, what="x", why="y")


def test_an_addendum_needs_what_and_why(chemo_encounter, nurse_user) -> None:
    signature_store(encounter=chemo_encounter, user=nurse_user)
    with pytest.raises(ValidationError):
        addendum_store(encounter=chemo_encounter, user=nurse_user, what="stop time", why=" ")


def test_the_sign_view_signs_for_a_nurse(client_as, chemo_encounter) -> None:
    with mock.patch("coding.tasks.generate_charges.delay"):
        response = client_as("nurse").post(
            f"/mar/encounters/{chemo_encounter.pk}/sign/", SIGN_CONFIRMED
        )
    assert response.status_code == 302
    chemo_encounter.refresh_from_db()
    assert chemo_encounter.is_signed


def test_the_sign_view_refuses_a_coder(client_as, chemo_encounter) -> None:
    response = client_as("coder").post(f"/mar/encounters/{chemo_encounter.pk}/sign/")
    assert response.status_code == 403
    chemo_encounter.refresh_from_db()
    assert not chemo_encounter.is_signed
