"""The interface log screen: messages, outcome, errors; reprocess a failed one after the fix."""

import pytest
from django.urls import reverse

from mar.hl7.inbound import message_receive
from mar.models import InterfaceMessage, Order
from tests import factories
from tests.mar.hl7.builders import orc, rde, register, rxe, rxr

pytestmark = pytest.mark.django_db


def test_the_log_lists_messages_with_outcome_and_error(client_as) -> None:
    message_receive(register(control="OK1").encode())
    message_receive(rde("H-1001", "V-9001", orc(), rxe(code="^unobtainium^"), rxr()).encode())
    html = client_as("admin").get(reverse("hl7:messages")).content.decode()
    assert "OK1" in html and "AA" in html
    assert "RXE-2" in html and "Unknown drug code" in html
    errors_only = client_as("admin").get(reverse("hl7:messages"), {"outcome": "error"})
    assert "OK1" not in errors_only.content.decode()


def test_reprocess_after_the_formulary_is_fixed(client_as) -> None:
    message_receive(register().encode())
    message_receive(rde("H-1001", "V-9001", orc(), rxe(code="^teprotumumab^"), rxr()).encode())
    failed = InterfaceMessage.objects.get(outcome="error")
    client = client_as("admin")
    still = client.post(reverse("hl7:reprocess", args=[failed.pk]), follow=True)
    assert "Still failing" in still.content.decode()
    factories.drug_get("teprotumumab", None)
    done = client.post(reverse("hl7:reprocess", args=[failed.pk]), follow=True)
    assert "Processed: accepted" in done.content.decode()
    assert Order.objects.get().drug.name == "teprotumumab"
    again = client.post(reverse("hl7:reprocess", args=[failed.pk]), follow=True)
    assert "not processed twice" in again.content.decode()
    assert Order.objects.count() == 1


def test_a_reused_control_id_is_shown_with_a_link_to_the_first_message(client_as) -> None:
    message_receive(register(mrn="H-1001", account="V-9001", control="TWICE").encode())
    message_receive(register(mrn="H-2002", account="V-9002", control="TWICE").encode())
    first = InterfaceMessage.objects.get(reuses=None)
    reused = InterfaceMessage.objects.get(reuses=first)
    html = client_as("admin").get(reverse("hl7:message", args=[reused.pk])).content.decode()
    assert reverse("hl7:message", args=[first.pk]) in html
    assert "already used by" in html and "Process again" in html
    assert "this one is not processed" in html


def test_a_reused_control_id_processed_by_an_administrator_no_longer_says_not_processed(
    client_as,
) -> None:
    message_receive(register(mrn="H-1001", account="V-9001", control="TWICE").encode())
    message_receive(register(mrn="H-2002", account="V-9002", control="TWICE").encode())
    reused = InterfaceMessage.objects.get(reuses__isnull=False)
    client = client_as("admin")
    done = client.post(reverse("hl7:reprocess", args=[reused.pk]), follow=True).content.decode()
    assert "Processed: accepted" in done
    assert "this one was processed from here" in done and "not processed" not in done
