"""Random and hostile input, driven by hypothesis, to every form and htmx endpoint and to the
engine's command line: never a server error, never a partial save.

The forms are found, not listed: every GET page of the app is fetched as an admin and each
<form> (action= or hx-post=) is read for its field names, so a screen added later is fuzzed
with its real field names the moment it is routed. "No partial save": when the answer is an
error (4xx, a form error, an error message), the audit trail shows no write at all, because
every insert, update and delete of the record, formulary and charges leaves an event there.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.contrib.messages import constants
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coding.engine.cli import main as engine_main
from mar.audit.models import EVENTS
from tests.security.conftest import World
from tests.security.test_csrf import POST_ROUTES
from tests.security.test_permissions import APP_ROUTES, EXPECTED, arguments
from tests.security.urlwalk import Route

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", 8))

HOSTILE = [
    "",
    " ",
    "0",
    "-1",
    "1e309",
    "NaN",
    "Infinity",
    "99999999999999999999999999",
    "-99999999999999999999",
    "3.14159",
    "' OR 1=1 --",
    "'; DROP TABLE mar_administration; --",
    '<script>alert("x")</script>',
    '"><img src=x onerror=alert(1)>',
    "{{ settings.SECRET_KEY }}",
    "%s%s%s%n",
    "../../../../etc/passwd",
    "\x00",
    "a\x00b",
    "\u202e\u0000\ud7ff",
    "2026-02-30T25:61",
    "2026-03-02T08:00",
    "2026-03-02 08:00",
    "9999-12-31T23:59",
    "0001-01-01T00:00",
    "08:00",
    "yesterday",
    "A1",
    "S999999",
    "true",
    "null",
    "[]",
    "{}",
    "x" * 5000,
    # Issue 18: times past either end of the calendar, with offsets; control characters and
    # formula starts; text longer than any field takes.
    "0001-01-01T00:00+14:00",
    "9999-12-31T23:59-12:00",
    "10000-01-01T00:00",
    "\u2028line\u2029",
    "\x0bvertical",
    "U\rOBX|1|x",
    "a\r\nb",
    "Mary&Ann Doe",
    "\\F\\ \\X0D\\",
    '=HYPERLINK("http://x")',
    "+1+1",
    "@SUM(A1)",
    "x" * 100_000,
]
values = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=300))


class FormFinder(HTMLParser):
    """Field names of each form, by the path it posts to."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: dict[str, set[str]] = {}
        self._current: set[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        target = attr.get("hx-post") or (attr.get("action") if tag == "form" else None)
        if tag == "form":
            self._current = self.forms.setdefault((target or "").split("?")[0].split("#")[0],
                                                  set())  # fmt: skip
        elif target:
            self.forms.setdefault(target.split("?")[0], set())
        if tag in ("input", "select", "textarea", "button") and attr.get("name"):
            if self._current is not None and attr["name"] != "csrfmiddlewaretoken":
                self._current.add(str(attr["name"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def discover_forms(world: World) -> dict[str, set[str]]:
    client = Client()
    client.force_login(world.users["admin"])
    finder = FormFinder()
    for route in APP_ROUTES:
        if route.name in EXPECTED and "GET" in EXPECTED[route.name][0].split():
            response = client.get(route.path(arguments(route, world)))
            if response.status_code == 200 and "html" in response.headers.get("Content-Type", ""):
                finder.feed(response.content.decode(errors="replace"))
    # The coder's review forms show once the item is claimed.
    coder = Client()
    coder.force_login(world.users["coder"])
    coder.post(f"/coding/encounters/{world.encounter.pk}/claim/")
    for path in (f"/coding/encounters/{world.encounter.pk}/", "/coding/exports/"):
        finder.feed(coder.get(path).content.decode(errors="replace"))
    return finder.forms


GENERIC = ["at", "start", "end", "stop", "version", "reason", "what", "why", "site", "method"]


# Barcode medication administration keeps every scan, a wrong-patient or unreadable one above
# all (the scan log is the safety record): a refused scan is still written, by design.
KEPT_WHEN_REFUSED = {"BarcodeScanEvent"}


def writes() -> int:
    return sum(
        model.objects.count()
        for model in EVENTS.values()
        if model.__name__ not in KEPT_WHEN_REFUSED
    )


def is_error(response) -> bool:
    if response.status_code >= 400:
        return True
    body = response.content.decode(errors="replace")
    if "is-invalid" in body or "errorlist" in body or "invalid-feedback" in body:
        return True
    storage = getattr(response.wsgi_request, "_messages", None)
    queued = getattr(storage, "_queued_messages", [])
    return any(message.level >= constants.ERROR for message in queued)


def commit_checks_pass() -> str | None:
    """Run the checks PostgreSQL runs at COMMIT (the signed-record guard); the refusal, if any.

    A test's transaction never commits, so a view that changed a signed record without an
    addendum would otherwise go unnoticed here (in production it is a failed commit: a 500).
    """
    from django.db import DatabaseError, connection, transaction

    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    except DatabaseError as exc:
        return str(exc)
    return None


CASES = [(route, "in progress") for route in POST_ROUTES] + [
    (route, "signed") for route in POST_ROUTES if route.name.startswith("mar:")
]


@pytest.mark.django_db
@pytest.mark.parametrize(("route", "state"), CASES, ids=lambda c: getattr(c, "name", c))
@pytest.mark.postgresql(
    "no partial save is read from the audit trail; posts meet PostgreSQL's commit checks"
)
def test_hostile_posts_never_fail_the_server_nor_save_half(
    route: Route, state: str, world: World
) -> None:
    if state == "signed":
        from mar.services.signature import signature_store

        signature_store(encounter=world.encounter, user=world.users["nurse"])
    path = route.path(arguments(route, world))
    forms = discover_forms(world)
    # A form not on any page as the world stands (e.g. a sign form with acknowledgements): the
    # field names of every form of the app, and some usual ones.
    every_name = set(GENERIC).union(*forms.values())
    fields = sorted(forms.get(path) or every_name)
    allowed = EXPECTED[route.name][1]
    who = next((r for r in ("nurse", "pharmacist", "coder", "admin") if r in allowed), "admin")
    client = Client()
    if route.name != "login":
        client.force_login(world.users[who])

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        data=st.dictionaries(st.sampled_from(fields), values, max_size=len(fields)),
        extra=st.dictionaries(st.text(min_size=1, max_size=20), values, max_size=2),
        htmx=st.booleans(),
    )
    def post(data: dict[str, str], extra: dict[str, str], htmx: bool) -> None:
        before = writes()
        headers = {"HX-Request": "true"} if htmx else {}
        response = client.post(path, {**extra, **data}, headers=headers)
        assert response.status_code < 500, f"POST {path} {data!r}: {response.status_code}"
        refused = commit_checks_pass()
        assert refused is None, f"POST {path} {data!r} could not commit: {refused}"
        if is_error(response):
            assert writes() == before, f"POST {path} {data!r} failed but saved something"

    post()


# --- searches and filters (GET) and the request's charset (issue 18, item 5) -----------------

GET_CASES = [
    route
    for route in APP_ROUTES
    if route.name in EXPECTED and "GET" in EXPECTED[route.name][0].split()
]
QUERY_KEYS = [
    "q",
    "search",
    "filter",
    "status",
    "state",
    "class",
    "from",
    "to",
    "date",
    "page",
    "sort",
    "role",
    "drug",
]


@pytest.mark.django_db
@pytest.mark.parametrize("route", GET_CASES, ids=lambda r: r.name)
def test_hostile_searches_and_filters_never_fail_the_server(route: Route, world: World) -> None:
    """A NUL (?q=%00), a huge or impossible date, any text: in every search, filter and page."""
    path = route.path(arguments(route, world))
    allowed = EXPECTED[route.name][1]
    who = next((r for r in ("nurse", "pharmacist", "coder", "admin") if r in allowed), "admin")
    client = Client()
    if route.name != "login":
        client.force_login(world.users[who])
    for key in QUERY_KEYS:
        response = client.get(path, {key: "\x00"})
        assert response.status_code == 400, f"GET {path}?{key}=%00: {response.status_code}"

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(query=st.dictionaries(st.sampled_from(QUERY_KEYS), values, max_size=3))
    def get(query: dict[str, str]) -> None:
        response = client.get(path, query)
        assert response.status_code < 500, f"GET {path} {query!r}: {response.status_code}"

    get()


@pytest.mark.django_db
@pytest.mark.parametrize("charset", ["utf-16", "utf-16-le", "utf-32", "latin-1"])
def test_a_form_sent_in_another_charset_is_refused_not_a_500(charset: str, world: World) -> None:
    """charset=utf-16 on the login page was a 500 (production too: the middleware is in both)."""
    from django.conf import settings as django_settings

    assert "config.security.RequestTextMiddleware" in django_settings.MIDDLEWARE
    body = "username=nurse1&password=x"  # the test client encodes it in the charset named
    for path, client in (
        ("/accounts/login/", Client()),
        (f"/mar/encounters/{world.encounter.pk}/times/", None),
    ):
        if client is None:
            client = Client()
            client.force_login(world.users["nurse"])
        response = client.post(
            path, body, content_type=f"application/x-www-form-urlencoded; charset={charset}"
        )
        assert response.status_code == 400, (path, charset, response.status_code)


@pytest.mark.django_db
def test_a_utf8_form_with_its_charset_still_works(world: World) -> None:
    response = Client().post(
        "/accounts/login/",
        b"username=nurse1&password=wrong",
        content_type="application/x-www-form-urlencoded; charset=UTF-8",
    )
    assert response.status_code == 200


# --- the engine's command line ----------------------------------------------------------------

SCENARIO = json.loads(next((ROOT / "tests/engine/scenarios").glob("P07*.json")).read_text())
RECORD = SCENARIO["record"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
    | st.sampled_from(HOSTILE),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)  # fmt: skip


def mutate(record: object, path: list[int], value: object) -> object:
    """The record with one value somewhere inside replaced (path picks the branch)."""
    if not path or not isinstance(record, dict | list) or not record:
        return value
    keys = list(record.keys()) if isinstance(record, dict) else list(range(len(record)))
    key = keys[path[0] % len(keys)]
    copy = dict(record) if isinstance(record, dict) else list(record)
    copy[key] = mutate(copy[key], path[1:], value)
    return copy


def run_cli(text: str) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    real_stderr = sys.stderr
    sys.stderr = stderr
    try:
        code = engine_main(["-"], stdin=io.StringIO(text), stdout=stdout)
    finally:
        sys.stderr = real_stderr
    return code, stdout.getvalue(), stderr.getvalue()


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    text=st.one_of(
        st.text(max_size=200),
        st.sampled_from(HOSTILE),
        json_values.map(json.dumps),
        st.tuples(st.lists(st.integers(0, 50), max_size=6), json_values).map(
            lambda pv: json.dumps(mutate(RECORD, pv[0], pv[1]))
        ),
    )
)
def test_the_engine_cli_answers_garbage_with_exit_2_and_no_traceback(text: str) -> None:
    code, out, err = run_cli(text)
    assert code in (0, 2)
    if code == 2:
        assert out == "" and err.strip() and "Traceback" not in err
    else:
        json.loads(out)


@pytest.mark.parametrize(
    "stdin",
    [b"", b"\xff\xfe\x00garbage", b"{", b"[]", b'{"format": "infusion-record/1"}', b"\x00" * 64,
     b"[" * 100000],
)  # fmt: skip
def test_the_engine_process_exits_2_on_garbage(stdin: bytes) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "coding.engine", "-"],
        input=stdin, capture_output=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert out.returncode == 2, out.stderr.decode(errors="replace")[-2000:]
    assert b"Traceback" not in out.stderr
    assert out.stdout == b""
