"""Every plain form that posts asks whether the session holds before it goes
(`data-session-check`, static/js/session.js): pressed while signed out, what was typed stays on
the page, the sign-in box opens over it, and the form goes once signed in again (QA: the order
entry lost a verbal order to a bare "Sign in" page). htmx forms get the same from the 401
answer. Exempt: the sign-in form itself and sign out."""

import re
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
FORM = re.compile(r"<form\b[^>]*>", re.S)
EXEMPT = {
    ("registration/login.html", "url 'login'"),  # the sign-in form: no session to keep
    ("_nav.jinja", "url('logout')"),  # signing out: signed out already is what it asks
}


def post_forms() -> list[tuple[str, str]]:
    found = []
    for path in sorted(TEMPLATES.rglob("*")):
        if path.suffix not in (".html", ".jinja"):
            continue
        for tag in FORM.findall(path.read_text()):
            if re.search(r'method="post"', tag, re.I):
                found.append((str(path.relative_to(TEMPLATES)), tag))
    return found


def test_every_plain_post_form_asks_whether_the_session_holds_before_it_goes() -> None:
    forms = post_forms()
    assert len(forms) > 60  # the templates were read
    unmarked = []
    for name, tag in forms:
        if any(name == n and mark in tag for n, mark in EXEMPT):
            continue
        # hx-post under an {% if %} (the pharmacist's return form): plain on some pages.
        htmx_always = "hx-post" in tag and not re.search(r"{% if [^%]*%}[^{]*hx-post", tag)
        if not htmx_always and "data-session-check" not in tag:
            unmarked.append(f"{name}: {tag[:90]}")
    assert unmarked == []


def test_the_exempt_forms_are_still_there_and_unmarked() -> None:
    """The exemptions name real forms (a renamed template would leave one unchecked)."""
    forms = post_forms()
    for name, mark in EXEMPT:
        tags = [tag for n, tag in forms if n == name and mark in tag]
        assert tags and all("data-session-check" not in t for t in tags), name


def test_the_pages_holding_typed_forms_say_what_signing_in_again_does_to_them() -> None:
    """The sign-in box says the page's own words (QA: the coder read the nurse's "changes
    typed in the cards"): the body's data-session-why, from each page's `session_why` block."""
    pages = [
        "registration/order_new.html",
        "registration/patient_new.html",
        "registration/visit_new.html",
        "pharmacy/drug_edit.html",
        "pharmacy/drug.html",
        "pharmacy/drug_class.html",
        "pharmacy/order_class.html",
        "pharmacy/order_review.html",
        "pharmacy/import.html",
        "coding/payer_policy.html",
        "coding/charge_master_upload.html",
        "coding/review.html",
    ]
    for name in pages:
        block = re.search(
            r"{% block session_why %}(.*?){% endblock %}", (TEMPLATES / name).read_text()
        )
        assert block and "once" in block.group(1), name
        assert '"' not in block.group(1), name  # it is an attribute's value
    assert 'data-session-why="{% block session_why %}' in (TEMPLATES / "base.html").read_text()
