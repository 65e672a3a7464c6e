"""A reason to sign over a red item is said in words (QA: "x" was taken as the reason a stop time
missing was signed over): the sign form's ack_* fields carry `validate_reason_in_words`, like
every other reason of a high-impact action. A reason of a key struck is refused beside its field,
what was typed kept, and nothing is signed nor acknowledged; a reason in words signs, kept with
the signature."""

import re

import pytest
from django.urls import reverse

from mar import roles
from mar.models import Encounter, FindingAcknowledgement
from mar.validators import REASON_IN_WORDS
from tests import factories
from tests.mar.chart_helpers import SIGN_CONFIRMED, running_visit

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def _ack_names(html: str) -> list[str]:
    return re.findall(r'name="(ack_[0-9a-f]{12})"', html)


def _error_beside(html: str, name: str) -> str:
    match = re.search(rf'id="error_\d+_id_{name}"[^>]*>\s*<strong>(.*?)</strong>', html, re.S)
    assert match, f"no error beside {name}"
    return match.group(1)


def _unsigned(encounter: Encounter) -> None:
    encounter.refresh_from_db()
    assert encounter.status == Encounter.Status.IN_PROGRESS and encounter.signed_at is None
    assert not FindingAcknowledgement.objects.filter(encounter=encounter).exists()


@pytest.mark.parametrize("headers", [{}, HX], ids=["plain", "htmx"])
@pytest.mark.parametrize("typed", ["x", "??", " ok ", "12/80"])
def test_a_reason_to_sign_anyway_not_in_words_is_refused_beside_it_and_kept(
    client_as, headers, typed
) -> None:
    encounter, _adm = running_visit()  # still running: the stop missing is a red item
    client = client_as(roles.NURSE)
    url = reverse("mar:encounter_sign", args=[encounter.pk])
    names = _ack_names(client.post(url).content.decode())  # asked for when signing
    assert names
    response = client.post(url, {**{n: typed for n in names}, **SIGN_CONFIRMED}, **headers)
    assert response.status_code == 200
    html = response.content.decode()
    for name in names:
        assert _error_beside(html, name) == REASON_IN_WORDS
        kept = re.search(rf'name="{name}"[^>]*value="([^"]*)"', html)
        assert kept and kept.group(1) == typed  # what she typed, as typed
    assert "Resolve this item" not in html  # she gave a reason: it is its words that are refused
    _unsigned(encounter)


def test_one_reason_in_words_and_one_not_signs_nothing_and_says_which(client_as) -> None:
    """Two red items (a second infusion still running): the reason in words is kept as typed,
    unrefused; the other is refused beside itself; nothing is acknowledged until both are."""
    encounter, adm = running_visit()
    factories.administration_create(encounter, adm.order, site=adm.site, start=adm.start, stop=None)
    client = client_as(roles.NURSE)
    url = reverse("mar:encounter_sign", args=[encounter.pk])
    names = _ack_names(client.post(url).content.decode())  # asked for when signing
    assert len(names) == 2
    good, bad = names[0], names[1]
    data = {good: "pump still running at discharge", bad: "x", **SIGN_CONFIRMED}
    html = client.post(url, data).content.decode()
    assert _error_beside(html, bad)
    assert f'id="error_1_id_{good}"' not in html
    assert 'value="pump still running at discharge"' in html
    _unsigned(encounter)


def test_a_reason_in_words_signs_and_is_kept_with_the_signature(client_as) -> None:
    encounter, _adm = running_visit()
    client = client_as(roles.NURSE)
    url = reverse("mar:encounter_sign", args=[encounter.pk])
    names = _ack_names(client.post(url).content.decode())  # asked for when signing
    # Refused first ("x"), then said in words: the second post signs.
    client.post(url, {**{n: "x" for n in names}, **SIGN_CONFIRMED})
    _unsigned(encounter)
    response = client.post(url, {**{n: "pump ran on, MD aware" for n in names}, **SIGN_CONFIRMED})
    assert response.status_code == 302
    encounter.refresh_from_db()
    assert encounter.status == Encounter.Status.SIGNED
    reasons = list(
        FindingAcknowledgement.objects.filter(encounter=encounter).values_list("reason", flat=True)
    )
    assert reasons == ["pump ran on, MD aware"] * len(names)
