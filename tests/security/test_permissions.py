"""Every URL of the app, for every role and for an anonymous visitor: allowed or denied, as the
table below says. The table is written by hand from the screens (shared/docs/screens.md) and
the issues, not read from the views' decorators, so a decorator that drifts is caught.

A URL added to the app without a row here fails `test_every_url_has_a_row` with its name: add
its row (methods, who may use it, what its pk names).

Allowed: any answer but 403/404/405/5xx. Denied: 403. Anonymous: a redirect to the sign-in
page, except the public URLs. Objects of one encounter are never reachable through another
encounter's URL (404).
"""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType
from django.test import Client

from mar.models import DrugNdc
from mar.roles import ADMIN, CLERK, CODER, NURSE, PHARMACIST
from tests.security.conftest import World
from tests.security.urlwalk import Route, app_routes

pytestmark = pytest.mark.django_db

N, P, C, A, K = NURSE, PHARMACIST, CODER, ADMIN, CLERK
ROLES = (N, P, C, A, K)
PUBLIC = frozenset({"anonymous", N, P, C, A, K})
SIGNED_IN = frozenset(ROLES)

# name: (methods, roles allowed, what `pk` names). Admins are listed where they are allowed.
EXPECTED: dict[str, tuple[str, frozenset[str], str]] = {
    "home": ("GET", SIGNED_IN, ""),
    "mar_index": ("GET", frozenset({N, A}), ""),
    "coding_index": ("GET", frozenset({C, A}), ""),
    "interfaces_index": ("GET", frozenset({A}), ""),
    "healthz": ("GET", PUBLIC, ""),
    "favicon": ("GET", PUBLIC, ""),
    "login": ("GET POST", PUBLIC, ""),
    "logout": ("POST", SIGNED_IN, ""),
    # The sign-in dialog over a page whose session ended (JSON; config/session.py).
    "session_resume": ("GET POST", PUBLIC, ""),
    # The nurse's board and chart; the chart's read-only parts are shared with pharmacy and coding.
    "mar:board": ("GET", frozenset({N, A}), "encounter"),
    "mar:encounter": ("GET", frozenset({N, P, C, A}), "encounter"),
    "mar:encounter_checklist": ("GET", frozenset({N, P, C, A}), "encounter"),
    "mar:encounter_timeline": ("GET", frozenset({N, P, C, A}), "encounter"),
    "mar:encounter_charges": ("GET", frozenset({N, P, C, A}), "encounter"),
    "mar:encounter_times": ("POST", frozenset({N, A}), "encounter"),
    "mar:encounter_sign": ("POST", frozenset({N, A}), "encounter"),
    "mar:addendum_add": ("POST", frozenset({N, A}), "encounter"),
    "mar:site_place": ("POST", frozenset({N, A}), "encounter"),
    "mar:site_update": ("POST", frozenset({N, A}), "encounter"),
    "mar:site_assess": ("POST", frozenset({N, A}), "encounter"),
    "mar:site_discontinue": ("POST", frozenset({N, A}), "encounter"),
    "mar:site_reopen": ("POST", frozenset({N, A}), "encounter"),
    "mar:site_flush": ("POST", frozenset({N, A}), "encounter"),
    "mar:flush_remove": ("POST", frozenset({N, A}), "encounter"),
    "mar:order_start": ("POST", frozenset({N, A}), "encounter"),
    "mar:order_disposition": ("POST", frozenset({N, A}), "encounter"),
    "mar:adm_update": ("POST", frozenset({N, A}), "encounter"),
    "mar:adm_pause": ("POST", frozenset({N, A}), "encounter"),
    "mar:adm_resume": ("POST", frozenset({N, A}), "encounter"),
    "mar:adm_stop": ("POST", frozenset({N, A}), "encounter"),
    "mar:pause_update": ("POST", frozenset({N, A}), "encounter"),
    "mar:pause_add": ("POST", frozenset({N, A}), "encounter"),
    # Issue 17: scanning, rates and volumes, measures, site details: nurses chart them.
    "mar:board_scan": ("POST", frozenset({N, A}), ""),
    "mar:scan": ("POST", frozenset({N, A}), "encounter"),
    "mar:scan_override": ("POST", frozenset({N, A}), "encounter"),
    "mar:adm_rate": ("POST", frozenset({N, A}), "encounter"),
    "mar:rate_update": ("POST", frozenset({N, A}), "encounter"),
    "mar:rate_remove": ("POST", frozenset({N, A}), "encounter"),
    "mar:adm_volumes": ("POST", frozenset({N, A}), "encounter"),
    "mar:adm_remove": ("POST", frozenset({N, A}), "encounter"),
    "mar:measure_add": ("POST", frozenset({N, A}), "encounter"),
    "mar:site_details": ("POST", frozenset({N, A}), "encounter"),
    "mar:site_condition": ("POST", frozenset({N, A}), "encounter"),
    # Coding: the coders' own.
    "coding:worklist": ("GET", frozenset({C, A}), ""),
    "coding:claim_next": ("POST", frozenset({C, A}), ""),
    "coding:encounter_charges": ("GET", frozenset({C, A}), "encounter"),
    "coding:claim": ("POST", frozenset({C, A}), "encounter"),
    "coding:release": ("POST", frozenset({C, A}), "encounter"),
    "coding:accept": ("POST", frozenset({C, A}), "encounter"),
    "coding:reopen": ("POST", frozenset({C, A}), "encounter"),
    "coding:line_correct": ("POST", frozenset({C, A}), "encounter"),
    "coding:line_back": ("POST", frozenset({C, A}), "encounter"),
    "coding:line_add": ("POST", frozenset({C, A}), "encounter"),
    "coding:added_line_correct": ("POST", frozenset({C, A}), "encounter"),
    "coding:correction_resolve": ("POST", frozenset({C, A}), "encounter"),
    "coding:correction_undo": ("POST", frozenset({C, A}), "encounter"),
    # A pharmacist's class change after export: the coder re-runs or says the claim stands.
    "coding:class_rerun": ("POST", frozenset({C, A}), "encounter"),
    "coding:class_stands": ("POST", frozenset({C, A}), "encounter"),
    "coding:override": ("POST", frozenset({C, A}), "encounter"),
    "coding:query": ("POST", frozenset({C, A}), "encounter"),
    "coding:query_withdraw": ("POST", frozenset({C, A}), "encounter"),
    "coding:exports": ("GET", frozenset({C, A}), ""),
    "coding:export_new": ("POST", frozenset({C, A}), ""),
    "coding:export_download": ("GET", frozenset({C, A}), "export"),
    "coding:report_findings": ("GET", frozenset({C, A}), ""),
    "coding:report_reconciliation": ("GET", frozenset({C, A}), ""),
    # Payers' coding policy (issue 14): coders read it; an admin (or a coder granted
    # mar.add_payerpolicy, a coding lead: tests/coding/test_payer_policy_screen.py) edits it.
    "coding:payers": ("GET", frozenset({C, A}), ""),
    "coding:payer_policy": ("GET POST", frozenset({A}), "payer"),
    # The charge master: coders read it; an admin (or a coding lead, as above:
    # tests/coding/test_charge_master_screen.py) uploads one.
    "coding:charge_master": ("GET", frozenset({C, A}), ""),
    "coding:charge_master_upload": ("GET POST", frozenset({A}), ""),
    "coding:sweeps": ("GET POST", frozenset({C, A}), ""),
    "coding:sweep": ("GET", frozenset({C, A}), "sweep"),
    "coding:sweep_progress": ("GET", frozenset({C, A}), "sweep"),
    "coding:sweep_resend": ("POST", frozenset({C, A}), "sweep"),
    "coding:sweep_csv": ("GET", frozenset({C, A}), "sweep"),
    # Pharmacy: pharmacists decide; nurses and coders may read the formulary.
    "pharmacy:worklist": ("GET", frozenset({P, A}), ""),
    "pharmacy:formulary": ("GET", frozenset({N, P, C, A}), ""),
    "pharmacy:formulary_export": ("GET", frozenset({N, P, C, A}), ""),
    "pharmacy:formulary_import": ("GET POST", frozenset({P, A}), ""),
    "pharmacy:drug_new": ("GET POST", frozenset({P, A}), ""),
    "pharmacy:drug": ("GET", frozenset({N, P, C, A}), "drug"),
    "pharmacy:drug_edit": ("GET POST", frozenset({P, A}), "drug"),
    "pharmacy:drug_row": ("GET", frozenset({N, P, C, A}), "drug"),
    "pharmacy:drug_ndc_add": ("POST", frozenset({P, A}), "drug"),
    "pharmacy:drug_allergy_classes": ("POST", frozenset({P, A}), "drug"),
    "pharmacy:drug_max_dose": ("POST", frozenset({P, A}), "drug"),
    "pharmacy:drug_max_dose_by_body": ("POST", frozenset({P, A}), "drug"),
    "pharmacy:drug_retire": ("POST", frozenset({P, A}), "drug"),
    "pharmacy:drug_reactivate": ("POST", frozenset({P, A}), "drug"),
    "pharmacy:drug_ndc_retire": ("POST", frozenset({P, A}), "ndc"),
    "pharmacy:drug_ndc_reactivate": ("POST", frozenset({P, A}), "ndc"),
    "pharmacy:drug_ndc_prefer": ("POST", frozenset({P, A}), "ndc"),
    "pharmacy:drug_ndc_update": ("POST", frozenset({P, A}), "ndc"),
    "pharmacy:drug_class": ("GET POST", frozenset({P, A}), "drug"),
    "pharmacy:drug_no_line": ("POST", frozenset({P, A}), "drug"),
    "pharmacy:drug_no_line_undo": ("POST", frozenset({P, A}), "drug"),
    "pharmacy:orders": ("GET", frozenset({P, A}), ""),
    "pharmacy:order_verify": ("POST", frozenset({P, A}), "order"),
    "pharmacy:order_return": ("POST", frozenset({P, A}), "order"),
    "pharmacy:order_return_withdraw": ("POST", frozenset({P, A}), "order"),
    "pharmacy:order_class": ("GET POST", frozenset({P, A}), "order"),
    # The verification screen (calculated vs ordered dose) and the safety overrides report.
    "pharmacy:order_review": ("GET", frozenset({P, A}), "order"),
    "pharmacy:overrides": ("GET", frozenset({P, A}), ""),
    # BCMA scan compliance (per unit and nurse) and its CSV.
    "pharmacy:scan_compliance": ("GET", frozenset({P, A}), ""),
    "pharmacy:scan_compliance_export": ("GET", frozenset({P, A}), ""),
    # Registration: the clerk registers and opens visits; a nurse may find patients and enter
    # an order she transcribes (written, verbal, telephone).
    "registration:home": ("GET", frozenset({K, N, A}), ""),
    "registration:patient_new": ("GET POST", frozenset({K, A}), ""),
    "registration:patient": ("GET", frozenset({K, N, A}), "patient"),
    "registration:visit_new": ("GET POST", frozenset({K, A}), "patient"),
    # The pharmacist sees the visit page too: pharmacy cancels an order entered in error there.
    "registration:visit": ("GET", frozenset({K, N, P, A}), "encounter"),
    # An order entered in error cancelled: the ordering desk and pharmacy (nurses document it
    # not given on the chart).
    "registration:order_cancel": ("POST", frozenset({K, P, A}), "encounter"),
    "registration:visit_account_set": ("POST", frozenset({K, A}), "encounter"),
    "registration:order_new": ("GET POST", frozenset({K, N, A}), "encounter"),
    # The order form's drug and indication checked as they are typed (htmx).
    "registration:order_check": ("POST", frozenset({K, N, A}), "order_field"),
    # The same order open on the visit, said as drug, dose and route are typed (htmx).
    "registration:order_duplicate_check": ("POST", frozenset({K, N, A}), "encounter"),
    "registration:drug_options": ("GET", frozenset({K, N, A}), ""),
    "registration:icd10_options": ("GET", frozenset({K, N, A}), ""),
    # The HL7 interface log: admins.
    "hl7:messages": ("GET", frozenset({A}), ""),
    "hl7:message": ("GET", frozenset({A}), "interface_message"),
    "hl7:reprocess": ("POST", frozenset({A}), "interface_message"),
    # The FHIR API: an integration's token decides, never a session (tests/coding/fhir/): a
    # visitor or a signed-in person without a token gets 401, which is no 403 here.
    "fhir:metadata": ("GET", PUBLIC, ""),
    "fhir:transaction": ("POST", PUBLIC, ""),
    "fhir:search": ("GET", PUBLIC, "fhir_type"),
    "fhir:read": ("GET", PUBLIC, "fhir_type"),
}
# Token-authenticated, CSRF-exempt (a cookie authenticates nothing there): left out of the
# CSRF walk (tests/security/test_csrf.py).
TOKEN_AUTHENTICATED = frozenset({"fhir:transaction"})

ROUTES = app_routes()
APP_ROUTES = [route for route in ROUTES if not route.is_admin]
ADMIN_ROUTES = [route for route in ROUTES if route.is_admin]


def test_every_url_has_a_row() -> None:
    unknown = sorted(f"{r.name}  (/{r.route})" for r in APP_ROUTES if r.name not in EXPECTED)
    assert not unknown, (
        "URLs with no row in tests/security/test_permissions.py EXPECTED; add one for each:\n  "
        + "\n  ".join(unknown)
    )
    gone = sorted(set(EXPECTED) - {r.name for r in APP_ROUTES})
    assert not gone, f"rows for URLs that no longer exist: {gone}"


def arguments(route: Route, world: World) -> dict[str, object]:
    values = world.sample(world.encounter)
    kind = EXPECTED[route.name][2]
    if kind == "drug":
        values["pk"] = world.encounter.orders.order_by("-pk").first().drug_id
    elif kind == "ndc":  # a package of the drug of the encounter's last order
        drug_id = world.encounter.orders.order_by("-pk").first().drug_id
        values["pk"] = DrugNdc.objects.get_or_create(drug_id=drug_id, ndc="99999000110")[0].pk
    elif kind == "order":
        values["pk"] = world.encounter.orders.order_by("-pk").first().pk
    elif kind == "fhir_type":
        values["resource_type"] = "Patient"
        values["resource_id"] = world.encounter.patient_id
    elif kind == "interface_message":
        values["pk"] = world.interface_message.pk
    elif kind == "patient":
        values["pk"] = world.encounter.patient_id
    elif kind == "export":
        values["pk"] = world.export.pk
    elif kind == "sweep":
        values["pk"] = world.sweep.pk
    elif kind == "payer":
        values["pk"] = world.payer.pk
    elif kind == "order_field":  # the visit's order form, one of the fields checked as typed
        values["field"] = "indication"
    return values


def client_for(who: str, world: World) -> Client:
    client = Client()
    if who != "anonymous":
        client.force_login(world.users[who])
    return client


def check(route: Route, who: str, method: str, world: World) -> str | None:
    """None if the answer is as the table says, else what went wrong."""
    allowed = EXPECTED[route.name][1]
    path = route.path(arguments(route, world))
    client = client_for(who, world)
    response = client.get(path) if method == "GET" else client.post(path, {})
    status = response.status_code
    where = f"{method} {path} as {who}: {status}"
    if status >= 500:
        return f"{where} (server error)"
    if who == "anonymous" and "anonymous" not in allowed:
        location = response.headers.get("Location", "")
        if status != 302 or not location.startswith("/accounts/login/"):
            return f"{where}, expected a redirect to sign in"
        return None
    if who in allowed:
        if status in (403, 404, 405):
            return f"{where}, expected allowed"
        return None
    if status != 403:
        return f"{where}, expected 403"
    return None


@pytest.mark.parametrize("route", APP_ROUTES, ids=lambda r: r.name)
def test_each_url_allows_and_denies_as_the_table_says(route: Route, world: World) -> None:
    if route.name not in EXPECTED:
        pytest.fail(f"no row for {route.name} (see test_every_url_has_a_row)")
    methods = EXPECTED[route.name][0].split()
    problems = [
        problem
        for who in ("anonymous", *ROLES)
        for method in methods
        if (problem := check(route, who, method, world))
    ]
    # A method the URL does not take is refused whoever asks (once signed in).
    for method in {"GET", "POST"} - set(methods):
        path = route.path(arguments(route, world))
        client = client_for(A, world)
        response = client.get(path) if method == "GET" else client.post(path, {})
        if response.status_code != 405:
            problems.append(f"{method} {path} as admin: {response.status_code}, expected 405")
    assert not problems, "\n".join(problems)


# --- no object of one encounter through another encounter's URL ------------------------------

# "fmt" and "field" (an order form's field checked as typed) name no object.
CROSS = [
    r for r in APP_ROUTES if "pk" in r.params and len(set(r.params) - {"pk", "fmt", "field"}) > 0
]


@pytest.mark.parametrize("route", CROSS, ids=lambda r: r.name)
def test_an_object_of_another_encounter_is_not_found(route: Route, world: World) -> None:
    methods, allowed, kind = EXPECTED[route.name]
    assert kind == "encounter", f"{route.name}: a second object under a non-encounter pk"
    theirs = world.sample(world.other)
    values = {**theirs, "pk": world.encounter.pk}  # my encounter, their object
    path = route.path(values)
    who = next(role for role in (N, C, P) if role in allowed)
    client = client_for(who, world)
    before = snapshot(world)
    for method in methods.split():
        response = client.get(path) if method == "GET" else client.post(path, {})
        assert response.status_code == 404, f"{method} {path} as {who}: {response.status_code}"
    assert snapshot(world) == before, "a refused request changed the other encounter"


def snapshot(world: World) -> list[tuple[object, ...]]:
    from mar.models import Administration, Flush, Pause

    other = world.other
    return [
        *Administration.objects.filter(encounter=other).values_list("pk", "stop", "version"),
        *Pause.objects.filter(administration__encounter=other).values_list("pk", "end"),
        *Flush.objects.filter(encounter=other).values_list("pk", "at"),
        *other.sites.values_list("pk", "discontinued_at", "assessed_at"),
    ]


def test_the_cross_encounter_check_covers_every_sub_object_kind() -> None:
    kinds = {param for route in CROSS for param in route.params} - {"pk"}
    assert {"site_pk", "adm_pk", "pause_pk", "order_pk", "flush_pk", "line_id"} <= kinds


# --- the admin site: staff only ---------------------------------------------------------------


def admin_arguments(route: Route, world: World) -> dict[str, object]:
    values: dict[str, object] = {"app_label": "mar"}
    parts = route.route.split("/")
    if "object_id" in route.params and len(parts) > 2:
        ct = ContentType.objects.filter(app_label=parts[1], model=parts[2]).first()
        model = ct.model_class() if ct else None
        obj = model._default_manager.order_by("pk").first() if model else None
        values["object_id"] = obj.pk if obj is not None else 1
    values.setdefault("object_id", world.encounter.pk)
    values["content_type_id"] = ContentType.objects.get_for_model(type(world.encounter)).pk
    values["id"] = world.users[A].pk
    values["url"] = "no-such-page/"
    return values


def test_the_admin_site_is_for_admins_only(world: World) -> None:
    problems = []
    for route in ADMIN_ROUTES:
        path = route.path(admin_arguments(route, world))
        if path.endswith("/logout/"):
            continue
        for who in ("anonymous", *ROLES):
            response = client_for(who, world).get(path)
            status, location = response.status_code, response.headers.get("Location", "")
            if status >= 500:
                problems.append(f"GET {path} as {who}: {status}")
            elif (
                who == A
                and path.startswith(
                    (
                        "/admin/pghistory/",
                        "/admin/mar/addendum/",
                        "/admin/coding/apicall/",
                        "/admin/mar/drug/",
                        "/admin/mar/drugndc/",
                        "/admin/coding/chargerun/",
                        "/admin/mar/patient/",
                        "/admin/mar/encounter/",
                        "/admin/mar/administration/",
                        "/admin/mar/flush/",
                    )
                )
                and path.endswith(("/add/", "/delete/"))
            ):
                # The history, the addenda and the API log are append-only, in the admin too;
                # the formulary is the pharmacy's services' and a charge run charge_run_store's
                # (read-only in the admin: tests/mar/test_admin_formulary.py, coding/test_admin);
                # the clinical record is registration's and the charting services' (view only:
                # tests/mar/test_admin.py).
                if status != 403:
                    problems.append(f"GET {path} as admin: {status}, expected 403")
            elif who == A and status in (401, 403) and "autocomplete" not in path:
                # (autocomplete answers 403 to a request without its field parameters)
                problems.append(f"GET {path} as admin: {status}")
            elif (
                who != A
                and path != "/admin/login/"
                and not (
                    status == 302 and location.startswith(("/admin/login/", "/accounts/login/"))
                )
            ):
                problems.append(f"GET {path} as {who}: {status} {location}, expected sign-in")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("who", [N, P, C, K])
def test_a_signed_in_user_who_is_not_staff_gets_the_apps_403_at_the_admin_not_its_sign_in(
    who: str, world: World
) -> None:
    # Not "You are authenticated as nurse1... login to a different account?" on a shared tablet.
    client = client_for(who, world)
    response = client.get("/admin/coding/apitoken/", follow=True)
    assert response.status_code == 403
    assert response.redirect_chain[-1][0].startswith("/admin/login/")
    page = response.content.decode()
    assert "Your role does not give access to this page" in page
    assert "different account" not in page
    # and signing in there as someone else is refused the same way
    assert client.post("/admin/login/", {"username": "x", "password": "y"}).status_code == 403


def test_the_admin_sign_in_still_serves_anonymous_users_and_lets_admins_through(
    world: World,
) -> None:
    assert Client().get("/admin/login/").status_code == 200
    admin = client_for(A, world)
    response = admin.get("/admin/login/")
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert admin.get("/admin/").status_code == 200
