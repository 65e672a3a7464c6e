"""A card's start and stop are saved together or not at all, and a refusal says what is saved.

QA (nurse, medium): teprotumumab started, paused and stopped live at 05:26. On its card Start
was changed to 03:45 and Stop to 05:10, then Save: "Not saved: see why in the card", the 05:26
pause being outside the new times. The start had already been saved on its own (the card saves
as she leaves a field): after a reload the record read 03:45-05:26, a 101-minute infusion nobody
meant. Now:

- the service saves a card's changes in one transaction: both times refused together leave the
  record as it was (and the pause is said beside the time it lies beyond, not "see why");
- a time the card sent alone and saved is said as saved when the next one is refused: "Start
  03:45 is saved; stop 05:10 is not: the pause at 05:26 is after it. The record keeps
  03:45-05:26." beside the stop, and the card's save line says what was not saved;
- the checklist and timeline sent with the refusal are the record's as stored;
- over any sequence of card saves (a stateful test): a refused save changes nothing stored, and
  what the card says is saved is what is stored.

The browser's half (the start held while the focus goes to the stop, sent with it) is
tests/browser/test_card_times_together.py.
"""

import re
from datetime import datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from mar import roles
from mar.models import Administration, Encounter, Pause
from mar.services import charting
from mar.services.charting import ChartError
from tests import factories
from tests.mar.chart_helpers import card_data, local

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def stopped_with_a_pause(now: datetime | None = None) -> tuple[Encounter, Administration]:
    """QA's infusion: started 100 minutes before it was paused and stopped in one minute (the
    pause at the stop), 10 minutes ago."""
    now = (now or timezone.now()).replace(second=0, microsecond=0)
    encounter = factories.encounter_create(arrived_at=now - timedelta(hours=3))
    site = factories.site_create(encounter, placed_at=now - timedelta(hours=3))
    order = factories.order_create(encounter, factories.drug_get("teprotumumab"), dose="10 mg/kg")
    end = now - timedelta(minutes=10)
    adm = factories.administration_create(
        encounter, order, site=site, start=end - timedelta(minutes=100), stop=end
    )
    Pause.objects.create(administration=adm, start=end, end=end)
    adm.refresh_from_db()
    return encounter, adm


def stored(adm: Administration) -> tuple[object, ...]:
    row = Administration.objects.get(pk=adm.pk)
    pauses = tuple(row.pauses.order_by("pk").values_list("start", "end"))
    return row.start, row.stop, row.version, pauses


def hhmm(moment: datetime) -> str:
    return moment.astimezone(factories.NEW_YORK).strftime("%H:%M")


def beside(html: str, adm: Administration, name: str) -> str:
    """The error crispy draws under a card field ("" when none)."""
    found = re.search(rf'id="error_1_id_a{adm.pk}-{name}"[^>]*>(.*?)</(?:span|div|p)>', html, re.S)
    return " ".join(re.sub(r"<[^>]+>", "", found.group(1)).split()) if found else ""


def save_line(html: str) -> str:
    found = re.search(r'data-refused="([^"]*)"', html)
    return found.group(1) if found else ""


def test_the_service_refuses_a_start_and_stop_together_and_leaves_the_record_as_it_was() -> None:
    """Both times in one save, the pause outside them: refused whole, nothing stored; the pause
    is said beside the stop it lies after (the card has no pause field)."""
    _encounter, adm = stopped_with_a_pause()
    before = stored(adm)
    pause_at = hhmm(adm.stop)
    with pytest.raises(ChartError) as refused:
        charting.administration_update(
            administration=adm,
            version=adm.version,
            changes={
                "start": adm.start - timedelta(minutes=15),
                "stop": adm.stop - timedelta(minutes=16),
            },
        )
    assert refused.value.errors == {"stop": [f"The pause at {pause_at} is after it."]}
    assert stored(adm) == before


def test_the_service_says_a_pause_before_a_new_start_beside_the_start() -> None:
    _encounter, adm = stopped_with_a_pause()
    Pause.objects.create(
        administration=adm,
        start=adm.start + timedelta(minutes=5),
        end=adm.start + timedelta(minutes=9),
    )
    before = stored(adm)
    with pytest.raises(ChartError) as refused:
        charting.administration_update(
            administration=adm,
            version=adm.version,
            changes={"start": adm.start + timedelta(minutes=20)},
        )
    assert refused.value.errors == {
        "start": [f"The pause at {hhmm(adm.start + timedelta(minutes=5))} is before it."]
    }
    assert stored(adm) == before


def test_a_start_and_stop_typed_together_and_refused_are_both_said_not_saved(client_as) -> None:
    encounter, adm = stopped_with_a_pause()
    before = stored(adm)
    start, stop = adm.start - timedelta(minutes=15), adm.stop - timedelta(minutes=16)
    response = client_as(roles.NURSE).post(
        reverse("mar:adm_update", args=[encounter.pk, adm.pk]),
        card_data(adm, start=local(start), stop=local(stop)),
        **HX,
    )
    html = response.content.decode()
    assert stored(adm) == before
    keeps = f"The record keeps {hhmm(adm.start)}–{hhmm(adm.stop)}."
    assert beside(html, adm, "stop") == (
        f"Stop {hhmm(stop)} is not saved, nor is start {hhmm(start)}: the pause at "
        f"{hhmm(adm.stop)} is after it. {keeps}"
    )
    assert beside(html, adm, "start").startswith(f"Start {hhmm(start)} is not saved either")
    assert save_line(html) == (
        f"Not saved: start {hhmm(start)}, stop {hhmm(stop)} (see the field marked in red)."
    )
    assert "see why in the card" not in html
    # The timeline sent with it is the record's as stored.
    assert f"teprotumumab: {hhmm(adm.start)}–{hhmm(adm.stop)}" in html


def test_a_stop_refused_after_its_start_was_saved_alone_says_the_start_is_saved(
    client_as,
) -> None:
    """QA's steps as the card sent them before the start and stop went together: the start
    alone (saved), then the stop (refused). The card says which is saved and which is not,
    beside the stop, and what the record keeps; the timeline shows what is stored."""
    encounter, adm = stopped_with_a_pause()
    nurse = client_as(roles.NURSE)
    url = reverse("mar:adm_update", args=[encounter.pk, adm.pk])
    start, stop = adm.start - timedelta(minutes=15), adm.stop - timedelta(minutes=16)
    nurse.post(url, card_data(adm, start=local(start)), **HX)
    saved = Administration.objects.get(pk=adm.pk)
    assert saved.start == start
    before = stored(saved)

    html = nurse.post(url, card_data(saved, stop=local(stop)), **HX).content.decode()

    assert stored(saved) == before
    assert beside(html, adm, "stop") == (
        f"Start {hhmm(start)} is saved; stop {hhmm(stop)} is not: the pause at "
        f"{hhmm(adm.stop)} is after it. The record keeps {hhmm(start)}–{hhmm(adm.stop)}."
    )
    assert beside(html, adm, "start") == ""
    assert save_line(html) == (
        f"Not saved: stop {hhmm(stop)} (see the field marked in red). Start {hhmm(start)} is saved."
    )
    assert f"teprotumumab: {hhmm(start)}–{hhmm(adm.stop)}" in html


def test_a_start_moved_after_the_stop_is_said_beside_the_start_not_the_stop(client_as) -> None:
    """The engine names the stop ("not after its start"); the stop is as stored, and it is the
    start she typed that is not saved: said beside it."""
    encounter, adm = stopped_with_a_pause()
    before = stored(adm)
    start = adm.stop + timedelta(minutes=5)
    html = (
        client_as(roles.NURSE)
        .post(
            reverse("mar:adm_update", args=[encounter.pk, adm.pk]),
            card_data(adm, start=local(start)),
            **HX,
        )
        .content.decode()
    )
    assert stored(adm) == before
    said = beside(html, adm, "start")
    assert said.startswith(f"Stop {hhmm(adm.stop)} is saved; start {hhmm(start)} is not: ")
    assert "is not after its start" in said
    # each a sentence: the refusal ends with its full stop before "The record keeps" (QA)
    assert re.search(r"[.!?] The record keeps ", said)
    assert beside(html, adm, "stop") == ""


# --- over any sequence of card saves -----------------------------------------------------------

OFFSETS = st.sampled_from([-40, -16, -15, -5, 0, 5, 20])  # minutes from the first start / stop


class CardSaves(RuleBasedStateMachine):
    """A nurse's card saves on one infusion with a pause: a start or a stop sent alone (the
    card's save as she leaves the field), or both together (Save, or leaving the pair). After
    every save: a refused one changed nothing stored; an accepted one stored what was sent;
    every time the card says is saved is the stored one, every time it says is not saved is
    not stored; the timeline sent with it shows the stored times."""

    def __init__(self) -> None:
        super().__init__()
        self.encounter, self.adm = stopped_with_a_pause()
        self.first = (self.adm.start, self.adm.stop)
        nurse = factories.user_create(username=f"rn-card-{self.adm.pk}", role="nurse")
        self.client = Client()
        self.client.force_login(nurse)
        self.url = reverse("mar:adm_update", args=[self.encounter.pk, self.adm.pk])
        self.html = ""

    def _save(self, **typed: datetime) -> None:
        current = Administration.objects.get(pk=self.adm.pk)
        before = stored(current)
        response = self.client.post(
            self.url, card_data(current, **{n: local(v) for n, v in typed.items()}), **HX
        )
        assert response.status_code == 200
        self.html = response.content.decode()
        after = Administration.objects.get(pk=self.adm.pk)
        if 'data-saved="no"' in self.html:
            event("refused")
            assert stored(after) == before, "a refused save changed the record"
        else:
            event("saved")
            for name, value in typed.items():
                assert getattr(after, name) == value

    @rule(minutes=OFFSETS)
    def start_alone(self, minutes: int) -> None:
        self._save(start=self.first[0] + timedelta(minutes=minutes))

    @rule(minutes=OFFSETS)
    def stop_alone(self, minutes: int) -> None:
        self._save(stop=self.first[1] + timedelta(minutes=minutes))

    @rule(start=OFFSETS, stop=OFFSETS)
    def both_together(self, start: int, stop: int) -> None:
        self._save(
            start=self.first[0] + timedelta(minutes=start),
            stop=self.first[1] + timedelta(minutes=stop),
        )

    @invariant()
    def what_the_card_says_saved_is_stored(self) -> None:
        if not self.html:
            return
        row = Administration.objects.get(pk=self.adm.pk)
        times = {"start": hhmm(row.start), "stop": hhmm(row.stop)}
        for name, at, saved in claims(self.html, self.adm):
            assert (times[name] == at) == saved, f"the card says {name} {at} saved={saved}"
        assert f"teprotumumab: {times['start']}–{times['stop']}" in self.html
        assert "see why in the card" not in self.html


def claims(html: str, adm: Administration) -> list[tuple[str, str, bool]]:
    """What the card says of its times: (start|stop, HH:MM, saved or not), from the words
    beside its fields, the record it says it keeps, and its save line."""
    words = " ".join(beside(html, adm, n) for n in ("start", "stop"))
    found = [
        (name.lower(), at, True)
        for name, at in re.findall(r"\b(start|stop) (\d\d:\d\d) is saved", words, re.I)
    ]
    found += [
        (name.lower(), at, False)
        for name, at in re.findall(r"\b(start|stop) (\d\d:\d\d) is not\b", words, re.I)
    ]
    found += [
        (name, at, False) for name, at in re.findall(r"nor is (start|stop) (\d\d:\d\d)", words)
    ]
    for start, stop in re.findall(r"The record keeps (\d\d:\d\d)–(\d\d:\d\d)\.", words):
        found += [("start", start, True), ("stop", stop, True)]
    line = save_line(html)
    if line:
        unsaved, _, rest = line.partition("(see")
        found += [(n, at, False) for n, at in re.findall(r"(start|stop) (\d\d:\d\d)", unsaved)]
        found += [
            (n.lower(), at, True)
            for n, at in re.findall(r"(Start|Stop) (\d\d:\d\d) is saved", rest)
        ]
    return found


def test_a_refused_card_save_changes_nothing_and_the_card_says_what_is_stored() -> None:
    run_state_machine_as_test(
        CardSaves,
        settings=settings(
            max_examples=12,
            stateful_step_count=6,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
