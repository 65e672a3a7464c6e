"""A refused coder form comes back on the review page, in its place: each error beside its field,
everything typed kept, nothing saved (screens.md: every action works as a plain form post).

A correction that would send the line exactly as it is now is refused too ("Nothing changed"),
and so is one of the engine's line, as it stands, to exactly itself ("This is what the engine
already charges"); after a correction, a change to exactly the engine's line takes the line back
to it.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.core.exceptions import ValidationError
from django.forms import HiddenInput, RadioSelect, Select
from django.test import Client
from django.urls import reverse

from coding.models import (
    ChargeCorrection,
    ChargeLine,
    DocumentationQuery,
    EditOverride,
    MueLimit,
    ReviewItem,
)
from coding.review import ENGINES_OWN, charge_line_correct, review_claim
from mar import roles
from mar.validators import QUESTION_IN_WORDS
from tests.coding.review_helpers import reviewed

pytestmark = pytest.mark.django_db


class FormOnPage(HTMLParser):
    """One form of a page, found by its action: each field's value and classes, the errors tied
    to each field by aria-describedby, the form's other error text, and whether the <details>
    around it is open."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action = action
        self.found = False
        self.inside = False
        self.open_details: list[bool] = []
        self.details_open = False
        self.fields: dict[str, dict[str, str]] = {}
        self.error_ids: dict[str, str] = {}  # an error element's id -> the field it describes
        self.errors: dict[str, list[str]] = {}
        self.non_field: list[str] = []
        self._textarea: str | None = None
        self._select: str | None = None
        self._collect: list[str] | None = None
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {k: v or "" for k, v in attrs}
        if tag == "details":
            self.open_details.append("open" in attr)
        if tag == "form" and attr.get("action") == self.action:
            self.found = self.inside = True
            self.details_open = any(self.open_details)
            return
        if not self.inside:
            return
        if self._collect is not None:
            self._depth += 1
        name = attr.get("name", "")
        if tag in ("input", "textarea", "select") and name and name != "csrfmiddlewaretoken":
            self.fields[name] = {"value": attr.get("value", ""), "class": attr.get("class", "")}
            for ref in attr.get("aria-describedby", "").split():
                self.error_ids[ref] = name
            if tag == "textarea":
                self._textarea = name
            if tag == "select":
                self._select = name
        if tag == "option" and self._select and "selected" in attr:
            self.fields[self._select]["value"] = attr.get("value", "")
        classes = attr.get("class", "").split()
        if self._collect is None and "invalid-feedback" in classes:
            self._collect = self.errors.setdefault(self.error_ids.get(attr.get("id", ""), "?"), [])
            self._depth = 0
        elif self._collect is None and "alert-danger" in classes:
            self._collect = self.non_field
            self._depth = 0

    def handle_endtag(self, tag: str) -> None:
        if tag == "details" and self.open_details:
            self.open_details.pop()
        if not self.inside:
            return
        if tag == "form":
            self.inside = False
        if tag == "textarea":
            self._textarea = None
        if tag == "select":
            self._select = None
        if self._collect is not None:
            if self._depth == 0:
                self._collect = None
            else:
                self._depth -= 1

    def handle_data(self, data: str) -> None:
        if not self.inside:
            return
        if self._textarea:
            self.fields[self._textarea]["value"] += data
        if self._collect is not None and data.strip():
            self._collect.append(data.strip())


def form_on(response, action: str) -> FormOnPage:
    parsed = FormOnPage(action)
    parsed.feed(response.content.decode())
    assert parsed.found, f"no form posting to {action}"
    return parsed


def banner(response) -> str:
    """The page-top messages (alerts with role=alert before the first heading)."""
    body = response.content.decode()
    main = body[body.index('<main class="container-fluid py-3" id="main">') :]
    return main[: main.index("<h1")]


@pytest.fixture
def claimed(coder_user):
    encounter, run, item = reviewed()
    review_claim(user=coder_user, item_id=item.pk)
    client = Client()
    client.force_login(coder_user)
    return encounter, run, item, client


def correction(line, **values: str) -> dict[str, str]:
    data = {"action": "change", "code": line.code, "units": str(line.units), "modifiers": ""}
    data.update(values)
    return {f"l{line.pk}-{name}": value for name, value in data.items()}


def test_a_correction_without_a_reason_is_refused_beside_the_reason_keeping_what_was_typed(
    claimed,
) -> None:
    encounter, run, _, client = claimed
    line = run.lines.get(code="96415")
    url = reverse("coding:line_correct", args=[encounter.pk, line.pk])
    response = client.post(url, correction(line, units="1", modifiers="59", reason="  "))

    assert response.status_code == 200
    assert not ChargeCorrection.objects.exists()
    form = form_on(response, url)
    prefix = f"l{line.pk}"
    assert form.details_open
    # Said in words: what is missing and why (as pharmacy's and registration's refusals).
    assert form.errors == {
        f"{prefix}-reason": ["Say why the line is corrected: the reason is kept beside it."]
    }
    assert "is-invalid" in form.fields[f"{prefix}-reason"]["class"]
    assert form.fields[f"{prefix}-units"]["value"] == "1"
    assert form.fields[f"{prefix}-modifiers"]["value"] == "59"
    assert "Line not corrected" not in banner(response)


def test_a_correction_with_units_abc_is_refused_beside_the_units_keeping_the_reason(
    claimed,
) -> None:
    encounter, run, _, client = claimed
    line = run.lines.get(code="96415")
    url = reverse("coding:line_correct", args=[encounter.pk, line.pk])
    reason = "pump log shows the stop at 11:40"
    response = client.post(url, correction(line, units="abc", reason=reason))

    assert response.status_code == 200
    assert not ChargeCorrection.objects.exists()
    form = form_on(response, url)
    prefix = f"l{line.pk}"
    # One error, the field's own: not also "needs its units".
    assert form.errors == {f"{prefix}-units": ["Enter a whole number."]}
    assert form.fields[f"{prefix}-units"]["value"] == "abc"
    assert form.fields[f"{prefix}-reason"]["value"].strip() == reason
    # The other lines' forms stay fresh and closed.
    other = run.lines.exclude(pk=line.pk).first()
    assert not form_on(
        response, reverse("coding:line_correct", args=[encounter.pk, other.pk])
    ).details_open


def test_a_code_the_service_refuses_shows_beside_the_code(claimed) -> None:
    encounter, run, _, client = claimed
    line = run.lines.get(code="96415")
    url = reverse("coding:line_correct", args=[encounter.pk, line.pk])
    response = client.post(url, correction(line, code="ZZZ", reason="typo in the chart"))

    assert response.status_code == 200
    form = form_on(response, url)
    assert list(form.errors) == [f"l{line.pk}-code"]
    [error] = form.errors[f"l{line.pk}-code"]
    assert error.startswith("ZZZ is not a CPT/HCPCS code: a CPT code is five digits")
    assert form.fields[f"l{line.pk}-code"]["value"] == "ZZZ"


def test_a_query_without_a_question_is_refused_beside_the_question_keeping_the_finding(
    claimed,
) -> None:
    encounter, run, item, client = claimed
    url = reverse("coding:query", args=[encounter.pk])
    finding = run.findings.get(rule="RAC-5")
    response = client.post(url, {"finding": finding.pk, "question": ""})

    assert response.status_code == 200
    assert not DocumentationQuery.objects.exists()
    form = form_on(response, url)
    assert form.details_open
    assert form.errors == {"question": ["Write the question: what the nurse should document."]}
    assert form.fields["finding"]["value"] == str(finding.pk)
    assert "Query not sent" not in banner(response)
    item.refresh_from_db()
    assert item.state == ReviewItem.State.IN_REVIEW


@pytest.mark.parametrize("question", ["?", "x", "...?", "1 2"])
def test_a_query_whose_question_is_not_in_words_is_refused_beside_it_and_kept(
    claimed, question
) -> None:
    """A question of a key struck or punctuation says nothing to the nurse, nor to the audit
    trail that keeps it (mar.validators, the reasons' own rule: a few letters at least)."""
    encounter, run, item, client = claimed
    url = reverse("coding:query", args=[encounter.pk])
    finding = run.findings.get(rule="RAC-5")
    response = client.post(url, {"finding": finding.pk, "question": question})

    assert response.status_code == 200
    assert not DocumentationQuery.objects.exists()
    form = form_on(response, url)
    assert form.errors == {"question": [QUESTION_IN_WORDS]}
    assert form.fields["question"]["value"].strip() == question
    client.post(url, {"finding": finding.pk, "question": "Flushed before?"})
    assert DocumentationQuery.objects.get().question == "Flushed before?"


def test_a_query_naming_both_a_finding_and_an_administration_is_refused_beside_the_administration(
    claimed,
) -> None:
    """A finding's query covers the finding's administrations: naming another would mislead."""
    encounter, run, _, client = claimed
    url = reverse("coding:query", args=[encounter.pk])
    adm = encounter.administrations.order_by("pk").first()
    finding = run.findings.get(rule="RAC-5")
    data = {"finding": finding.pk, "administration": f"A{adm.pk}", "question": "Flushed?"}
    response = client.post(url, data)

    assert response.status_code == 200
    assert not DocumentationQuery.objects.exists()
    assert list(form_on(response, url).errors) == ["administration"]


def test_an_added_line_naming_another_records_administration_is_refused_beside_it(
    claimed,
) -> None:
    encounter, _, _, client = claimed
    url = reverse("coding:line_add", args=[encounter.pk])
    response = client.post(
        url, {"code": "96372", "units": "2", "administrations": "A999999", "reason": "IM shot"}
    )

    assert response.status_code == 200
    assert not ChargeCorrection.objects.exists()
    form = form_on(response, url)
    assert form.details_open
    assert list(form.errors) == ["administrations"]
    # In words, with the ids that would do (walk18: it showed a Python list, "['A999999']").
    known = ", ".join(
        f"A{pk}" for pk in encounter.administrations.order_by("pk").values_list("pk", flat=True)
    )
    assert form.errors["administrations"] == [
        f"Not an administration of this record: A999999 (its administrations are {known})."
    ]
    assert form.fields["code"]["value"] == "96372"
    assert form.fields["units"]["value"] == "2"
    assert form.fields["reason"]["value"].strip() == "IM shot"


def test_an_override_without_a_reason_is_refused_in_that_edits_form(coder_user) -> None:
    MueLimit.objects.create(code="96415", limit=1)
    encounter, _, item = reviewed()
    review_claim(user=coder_user, item_id=item.pk)
    client = Client()
    client.force_login(coder_user)
    url = reverse("coding:override", args=[encounter.pk])
    message = "96415: 2 units on 2026-03-02 exceed the 1 per day allowed (MUE): held for the coder"
    response = client.post(url, {"rule": "EDIT-MUE", "message": message, "reason": ""})

    assert response.status_code == 200
    assert not EditOverride.objects.exists()
    form = form_on(response, url)
    assert form.errors == {
        "reason": ["Say why the edit is overridden: the reason is kept with it."]
    }
    assert form.fields["rule"]["value"] == "EDIT-MUE"
    assert "Override EDIT-MUE with this reason" in response.content.decode()


def test_an_htmx_request_gets_422_with_the_refused_form(claimed) -> None:
    encounter, _, _, client = claimed
    url = reverse("coding:query", args=[encounter.pk])
    response = client.post(url, {"finding": ""}, headers={"HX-Request": "true"})
    assert response.status_code == 422
    assert form_on(response, url).errors == {
        "question": ["Write the question: what the nurse should document."]
    }


def test_a_refused_form_of_an_item_not_claimed_goes_to_the_banner(coder_user) -> None:
    """Without the claim the page shows no forms, so the refusal cannot sit beside a field."""
    encounter, run, _ = reviewed()
    client = Client()
    client.force_login(coder_user)
    line = run.lines.get(code="96415")
    response = client.post(
        reverse("coding:line_correct", args=[encounter.pk, line.pk]),
        correction(line, units="1", reason="pump log"),
        follow=True,
    )
    assert response.redirect_chain[-1][0] == reverse(
        "coding:encounter_charges", args=[encounter.pk]
    )
    assert "Line not corrected. Claim this encounter first" in banner(response)
    assert not ChargeCorrection.objects.exists()


def test_a_correction_that_changes_nothing_is_refused(claimed) -> None:
    encounter, run, _, client = claimed
    line = run.lines.get(code="96415")
    url = reverse("coding:line_correct", args=[encounter.pk, line.pk])
    modifiers = " ".join(line.modifiers)
    response = client.post(url, correction(line, modifiers=modifiers, reason="looks right"))

    assert response.status_code == 200
    assert not ChargeCorrection.objects.exists()
    form = form_on(response, url)
    assert form.non_field == [
        "Nothing changed: the line already has this code, these units and modifiers."
    ]
    assert form.fields[f"l{line.pk}-reason"]["value"].strip() == "looks right"


def test_a_correction_repeating_the_last_correction_changes_nothing_but_going_back_does(
    claimed,
) -> None:
    """Going back to the engine's line after a correction is the coder's way back: taken, as
    "back to the engine's line", not stored as a second correction (it would be exported as
    "corrected"; tests/coding/test_line_back_to_engine.py)."""
    encounter, run, _, client = claimed
    line = run.lines.get(code="96415")
    url = reverse("coding:line_correct", args=[encounter.pk, line.pk])
    assert client.post(url, correction(line, units="1", reason="pump log")).status_code == 302
    again = client.post(url, correction(line, units="1", reason="pump log, again"))
    assert again.status_code == 200
    assert "Nothing changed" in " ".join(form_on(again, url).non_field)
    back = client.post(url, correction(line, units=str(line.units), reason="log was wrong"))
    assert back.status_code == 302
    (hers,) = ChargeCorrection.objects.all()
    assert hers.corrected["units"] == 1 and hers.state == ChargeCorrection.State.BACK
    assert hers.decision_reason == "log was wrong"


def test_a_correction_to_exactly_the_engines_line_is_refused_beside_the_field(
    claimed, coder_user
) -> None:
    """The engine's modifiers typed in another order ("KX 59" for 59 KX): the same claim line,
    nothing to correct, said beside the modifiers; nothing saved, so nothing is exported as
    "corrected"."""
    encounter, run, item, client = claimed
    push = run.lines.get(code="96375")
    two = ChargeLine.objects.create(
        run=run, position=50, code="96376", units=1, modifiers=["59", "KX"], date=push.date,
        administrations=list(push.administrations), why="a second push", rules=[],
    )  # fmt: skip
    with pytest.raises(ValidationError) as refused:
        charge_line_correct(
            item=item, user=coder_user, line=two, action="change", code="96376", units=1,
            modifiers=["KX", "59"], reason="flowsheet",
        )  # fmt: skip
    assert refused.value.message_dict == {"modifiers": [ENGINES_OWN]}
    url = reverse("coding:line_correct", args=[encounter.pk, two.pk])
    response = client.post(url, correction(two, modifiers="KX 59", reason="flowsheet"))
    assert response.status_code == 200
    form = form_on(response, url)
    assert form.errors[f"l{two.pk}-modifiers"] == [ENGINES_OWN]
    assert form.fields[f"l{two.pk}-modifiers"]["value"] == "KX 59"
    assert form.fields[f"l{two.pk}-reason"]["value"].strip() == "flowsheet"
    assert not ChargeCorrection.objects.exists()


def test_removing_a_removed_line_changes_nothing(claimed) -> None:
    encounter, run, _, client = claimed
    line = run.lines.get(code="96415")
    url = reverse("coding:line_correct", args=[encounter.pk, line.pk])
    remove = {f"l{line.pk}-action": "remove", f"l{line.pk}-reason": "not documented"}
    assert client.post(url, remove).status_code == 302
    response = client.post(url, remove, follow=True)
    # A removed line shows no form: the refusal is the page's message.
    assert "Nothing changed: the line is already removed." in banner(response)
    assert ChargeCorrection.objects.count() == 1


@pytest.mark.parametrize("role", [roles.NURSE, roles.PHARMACIST])
def test_other_roles_still_get_403_for_a_refused_form(claimed, client_as, role) -> None:
    encounter, run, _, _ = claimed
    line = run.lines.get(code="96415")
    url = reverse("coding:line_correct", args=[encounter.pk, line.pk])
    assert client_as(role).post(url, correction(line, units="abc")).status_code == 403


def test_an_added_line_dated_outside_the_encounter_is_refused_beside_the_date(claimed) -> None:
    """Before: a line dated 1999-01-01 was added and would have been billed on that day."""
    encounter, run, _, client = claimed
    url = reverse("coding:line_add", args=[encounter.pk])
    day = run.lines.first().date
    typed = {"code": "96372", "units": "1", "modifiers": "", "administrations": "",
             "day": "1999-01-01", "reason": "SQ injection charted on paper"}  # fmt: skip
    response = client.post(url, typed)

    assert response.status_code == 200
    form = form_on(response, url)
    assert form.errors == {
        "day": [
            f"1999-01-01 is not a day of this encounter ({day:%Y-%m-%d}): date the line on "
            "the day its service was given."
        ]
    }
    assert form.fields["reason"]["value"].strip() == "SQ injection charted on paper"
    assert not ChargeCorrection.objects.exists()

    assert client.post(url, {**typed, "day": f"{day:%Y-%m-%d}"}).status_code == 302
    assert ChargeCorrection.objects.get().corrected["date"] == day.isoformat()


def test_an_added_line_with_a_modifier_not_taken_is_refused_beside_it_keeping_what_was_typed(
    claimed,
) -> None:
    """QA: "Add a line" took 96523 ×3 with modifier "ZZ". Refused beside the modifiers, naming
    the ones taken (coding/modifiers.py), everything typed kept; in lower case, a modifier
    taken is stored in capitals."""
    from coding.modifiers import MODIFIERS

    encounter, _, _, client = claimed
    url = reverse("coding:line_add", args=[encounter.pk])
    typed = {"code": "96523", "units": "3", "modifiers": "zz", "administrations": "",
             "day": "", "reason": "port flushed before the pump was connected"}  # fmt: skip
    response = client.post(url, typed)

    assert response.status_code == 200
    form = form_on(response, url)
    assert form.details_open
    known = ", ".join(sorted(MODIFIERS))
    assert form.errors == {
        "modifiers": [f"ZZ is not a modifier of these lines: the ones taken are {known}."]
    }
    assert "is-invalid" in form.fields["modifiers"]["class"]
    assert form.fields["modifiers"]["value"] == "zz"
    assert (form.fields["code"]["value"], form.fields["units"]["value"]) == ("96523", "3")
    assert form.fields["reason"]["value"].strip() == typed["reason"]
    assert not ChargeCorrection.objects.exists()

    assert client.post(url, {**typed, "modifiers": "xu"}).status_code == 302
    assert ChargeCorrection.objects.get().corrected["modifiers"] == ["XU"]


@pytest.mark.parametrize(
    ("modifiers", "message"),
    [
        ("ZZ", "ZZ is not a modifier of these lines: the ones taken are "),
        ("5", "5 is not a modifier: a modifier is two letters or digits"),
        ("59 59", "59 given twice: once is enough"),
        ("59 XU JW JZ 25", "5 modifiers: a claim line carries at most 4"),
    ],
)
def test_a_correction_of_a_lines_modifiers_is_refused_beside_them(
    claimed, modifiers, message
) -> None:
    encounter, run, _, client = claimed
    line = run.lines.get(code="96415")
    url = reverse("coding:line_correct", args=[encounter.pk, line.pk])
    response = client.post(url, correction(line, modifiers=modifiers, reason="second site"))

    assert response.status_code == 200
    form = form_on(response, url)
    prefix = f"l{line.pk}"
    assert list(form.errors) == [f"{prefix}-modifiers"]
    assert form.errors[f"{prefix}-modifiers"][0].startswith(message)
    assert form.fields[f"{prefix}-modifiers"]["value"] == modifiers
    assert not ChargeCorrection.objects.exists()


def test_no_coder_form_refuses_with_django_s_bare_required_message() -> None:
    """Every field a coder must fill says what is missing in words (walk19: pharmacy and
    registration do; "This field is required." beside a reason box says neither what nor why)."""
    from coding import forms as coding_forms

    bare = []
    for name in ("LineCorrectForm", "CorrectionResolveForm", "LineAddForm", "EditOverrideForm"):
        form_class = getattr(coding_forms, name)
        for field_name, field in form_class.base_fields.items():
            if field.required and not isinstance(field.widget, HiddenInput | RadioSelect | Select):
                if field.error_messages["required"] == "This field is required.":
                    bare.append(f"{name}.{field_name}")
    query = coding_forms.QueryForm.base_fields["question"]
    if query.error_messages["required"] == "This field is required.":
        bare.append("QueryForm.question")
    assert bare == []


# --- what a correction that went through says (QA walkthrough) ------------------------------


def test_a_line_corrected_says_which_line_became_what_and_why(claimed) -> None:
    """The confirmation names the line, what it now sends and the reason, as the page's other
    actions say what they did (it said only "Line corrected")."""
    encounter, run, _, client = claimed
    line = run.lines.get(code="96415")
    url = reverse("coding:line_correct", args=[encounter.pk, line.pk])
    reason = "pump log: stopped at 11:40 <not markup>"
    response = client.post(url, correction(line, units="1", modifiers="59", reason=reason))
    assert response.status_code == 302
    page = client.get(response["Location"])
    assert (
        "Line 96415 ×2 corrected to 96415 ×1 59: pump log: stopped at 11:40 &lt;not markup&gt;. "
        "The original is kept beside it." in banner(page)
    )


def test_a_line_removed_says_which_line_and_why(claimed) -> None:
    encounter, run, _, client = claimed
    line = run.lines.get(code="96415")
    url = reverse("coding:line_correct", args=[encounter.pk, line.pk])
    response = client.post(url, correction(line, action="remove", reason="charted twice"))
    page = client.get(response["Location"])
    assert "Line 96415 ×2 removed: charted twice. The original is kept beside it." in banner(page)


def test_a_long_reason_is_cut_short_in_the_confirmation_and_kept_whole(claimed) -> None:
    encounter, run, _, client = claimed
    line = run.lines.get(code="96415")
    url = reverse("coding:line_correct", args=[encounter.pk, line.pk])
    reason = "pump log " + "x" * 400
    response = client.post(url, correction(line, units="1", reason=reason))
    said = banner(client.get(response["Location"]))
    assert "Line 96415 ×2 corrected to 96415 ×1: pump log x" in said and "x" * 200 not in said
    assert ChargeCorrection.objects.get().reason == reason


def test_a_refused_correction_page_gives_its_browser_the_review_pages_address(claimed) -> None:
    """A refused plain post answers at the post's address (…/lines/<n>/), the typed values and the
    errors beside them; the page says its own address so static/js/review.js puts it back in the
    address bar (a reload then reads the page instead of posting again)."""
    encounter, run, _, client = claimed
    line = run.lines.get(code="96415")
    url = reverse("coding:line_correct", args=[encounter.pk, line.pk])
    response = client.post(url, correction(line, code="", reason="pump log"))
    assert response.status_code == 200
    review = reverse("coding:encounter_charges", args=[encounter.pk])
    assert f'data-review-url="{review}"' in response.content.decode()
    assert form_on(response, url).errors == {f"l{line.pk}-code": ["A changed line needs its code."]}


def test_a_wrong_code_units_and_modifier_are_said_together_beside_each(claimed) -> None:
    """QA: code "ZZZ", units 0 and modifier "5" showed the units' and the modifier's errors,
    and the code's only at the next send. Each is said beside its field at once."""
    encounter, run, _, client = claimed
    line = run.lines.get(code="96415")
    url = reverse("coding:line_correct", args=[encounter.pk, line.pk])
    data = correction(line, code="ZZZ", reason="typo in the chart")
    data.update({f"l{line.pk}-units": "0", f"l{line.pk}-modifiers": "5"})
    response = client.post(url, data)

    assert response.status_code == 200
    form = form_on(response, url)
    assert sorted(form.errors) == sorted(
        [f"l{line.pk}-code", f"l{line.pk}-units", f"l{line.pk}-modifiers"]
    )
    assert form.errors[f"l{line.pk}-code"][0].startswith("ZZZ is not a CPT/HCPCS code")


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("59 XU", "59 and XU on one line: XU is a more specific kind of 59"),
        ("xs xu", "XS and XU on one line: a line takes one X modifier (XE, XP, XS or XU)"),
        ("JW", "JW on 96365: JW and JZ go on the drug's HCPCS line (J9267), not on 96365."),
    ],
)
def test_the_correction_view_refuses_cms_forbidden_modifiers_beside_the_field(
    claimed, typed: str, said: str
) -> None:
    """QA: the coder's correction took "59 XU", "JW XS XU" and 96365 JW. Refused on the review
    page beside the modifiers, with the rule said; what was typed kept; nothing saved."""
    encounter, run, _, client = claimed
    line = run.lines.get(code="96415")  # corrected to 96365 (an administration's CPT code)
    url = reverse("coding:line_correct", args=[encounter.pk, line.pk])
    data = correction(line, code="96365", modifiers=typed, reason="flowsheet")
    response = client.post(url, data)
    assert response.status_code == 200
    form = form_on(response, url)
    (message,) = form.errors[f"l{line.pk}-modifiers"]
    assert message.startswith(said)
    assert form.fields[f"l{line.pk}-modifiers"]["value"] == typed
    assert not ChargeCorrection.objects.exists()
