"""The FHIR R4 endpoints, plain Django views (no API framework needed for five read-only types
and one transaction). Every call needs an API token (Authorization: Bearer ...) with the scope
it uses, and is logged (ApiCall) with the token, path, query and status; errors answer an
OperationOutcome.

    GET  /fhir/R4/metadata                       CapabilityStatement (no token)
    GET  /fhir/R4/<Type>?<params>                search (read): a searchset Bundle, paged
    GET  /fhir/R4/<Type>/<id>                    read (read)
    POST /fhir/R4/                               a transaction Bundle (import)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db.models import Model, Q, QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from coding.fhir.auth import api_token_for
from coding.fhir.importer import BundleRefused, EntryResponse, bundle_import
from coding.fhir.resources import (
    ACCOUNT_SYSTEM,
    MRN_SYSTEM,
    charge_item_resources,
    encounter_resource,
    medication_administration_resource,
    medication_request_resource,
    patient_resource,
)
from coding.models import ApiCall, ApiToken, ChargeRun
from mar.audit.context import history_context
from mar.models import Administration, Encounter, Order, Patient
from mar.record import pk_from_record_id

FHIR_JSON = "application/fhir+json"
DEFAULT_COUNT, MAX_COUNT = 50, 200
COMMON_PARAMS = {"_count", "_offset", "_lastUpdated", "_format"}


class SearchError(Exception):
    pass


def response_entry(response: EntryResponse) -> dict[str, Any]:
    """A transaction-response entry: its status and location, and why nothing was created."""
    entry: dict[str, Any] = {"status": response.status, "location": response.location}
    if response.note:
        entry["outcome"] = {
            "resourceType": "OperationOutcome",
            "issue": [
                {"severity": "information", "code": "informational", "diagnostics": response.note}
            ],
        }
    return {"response": entry}


def outcome(status: int, *issues: str, code: str = "processing") -> JsonResponse:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": text} for text in issues],
    }
    response = JsonResponse(body, status=status, content_type=FHIR_JSON)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="fhir"'
    return response


def fhir_json(body: dict[str, Any], status: int = 200) -> JsonResponse:
    return JsonResponse(body, status=status, content_type=FHIR_JSON)


def _log(
    request: HttpRequest, token: ApiToken | None, response: HttpResponse, **extra: Any
) -> None:
    ApiCall.objects.create(
        token=token,
        method=request.method or "",
        path=request.path[:500],
        query=request.META.get("QUERY_STRING", "")[:1000],
        status=response.status_code,
        remote_addr=request.META.get("REMOTE_ADDR", "")[:100],
        **extra,
    )


def plain_http_refused(request: HttpRequest) -> JsonResponse | None:
    """Where the site sends everything to HTTPS (SECURE_SSL_REDIRECT), the API is exempt from
    the redirect (settings.SECURE_REDIRECT_EXEMPT) and refuses plain HTTP outright: a redirect
    would hide from the integration that its token crossed the network unencrypted, and a
    POSTed Bundle may be re-sent as a GET by a client following it."""
    if settings.SECURE_SSL_REDIRECT and not request.is_secure():
        return outcome(
            403,
            "The FHIR API answers over HTTPS only. This call came over plain HTTP: use https://, "
            "and have an administrator revoke the token it carried (it crossed the network "
            "unencrypted).",
            code="security",
        )
    return None


def api_view(scope: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Token with `scope` required; the call logged whatever its answer; no session, no CSRF
    (a cookie authenticates nothing here)."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @login_not_required
        @csrf_exempt
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            token = api_token_for(request.headers.get("Authorization", ""))
            refused = plain_http_refused(request)
            if refused is not None:
                response: HttpResponse = refused
            elif token is None:
                response = outcome(
                    401, "A valid API token is required (Authorization: Bearer ...).", code="login"
                )
            elif scope not in token.scopes:
                response = outcome(403, f"This token lacks the {scope!r} scope.", code="forbidden")
            else:
                ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
                request.api_token = token  # type: ignore[attr-defined]
                request.api_log = {}  # type: ignore[attr-defined]
                # The token's name on every audited change (PostgreSQL; the SQLite demo has no
                # audit trail, and pghistory's context would break its statements).
                with history_context(api_token=token.name, url=request.path):
                    response = view(request, *args, **kwargs)
            _log(request, token, response, **getattr(request, "api_log", {}))
            return response

        wrapped.__name__ = view.__name__
        wrapped.__doc__ = view.__doc__
        return wrapped

    return decorator


# --- search ------------------------------------------------------------------------------------


JSON_FORMATS = {"json", "application/json", "application/fhir+json"}


def _format_refused(request: HttpRequest) -> HttpResponse | None:
    """`_format` asking for what is not served (XML, Turtle): 406, as FHIR's http page asks,
    rather than JSON the caller did not ask for."""
    wanted = request.GET.get("_format", "")
    if wanted and wanted.split(";")[0].strip().lower() not in JSON_FORMATS:
        text = f"_format {wanted!r} is not served; this server answers JSON."
        return outcome(406, text, code="not-supported")
    return None


def _parsed(parse: Callable[[str], Any], text: str) -> Any:
    """Django's date parsers answer None for a text of another shape but raise for one of the
    right shape that is no date (2026-13-45): both are None here."""
    try:
        return parse(text)
    except ValueError:
        return None


def _birthdate(value: str) -> Q:
    day = _parsed(parse_date, value)
    if day is None:
        raise SearchError(f"birthdate: {value!r} is not a date (YYYY-MM-DD).")
    return Q(birth_date=day)


def _last_updated(values: list[str], field: str) -> Q:
    """`_lastUpdated=ge2026-03-01&_lastUpdated=lt2026-03-02T12:00:00Z` as a filter."""
    q = Q()
    for value in values:
        prefix, text = (value[:2], value[2:]) if value[:2].isalpha() else ("eq", value)
        moment = _parsed(parse_datetime, text) if "T" in text else None
        day = _parsed(parse_date, text) if moment is None else None
        if moment is None and day is None:
            raise SearchError(f"_lastUpdated: {value!r} is not a date or dateTime.")
        if moment is not None and timezone.is_naive(moment):
            moment = moment.replace(tzinfo=UTC)
        low = moment or datetime(day.year, day.month, day.day, tzinfo=UTC)  # type: ignore[union-attr]
        high = moment if moment is not None else low + timedelta(days=1)
        exact = moment is not None
        conditions = {
            "eq": Q(**{field: low}) if exact else Q(**{f"{field}__gte": low, f"{field}__lt": high}),
            "ne": ~Q(**{field: low})
            if exact
            else ~Q(**{f"{field}__gte": low, f"{field}__lt": high}),
            "gt": Q(**{f"{field}__gt" if exact else f"{field}__gte": high}),
            "ge": Q(**{f"{field}__gte": low}),
            "lt": Q(**{f"{field}__lt": low}),
            "le": Q(**{f"{field}__lte" if exact else f"{field}__lt": high}),
        }
        if prefix not in conditions:
            raise SearchError(f"_lastUpdated: prefix {prefix!r} is not supported.")
        q &= conditions[prefix]
    return q


def _reference_id(value: str, kind: str) -> int:
    text = value.rsplit("/", 1)[-1] if value.startswith(f"{kind}/") or "/" in value else value
    if not text.isdigit():
        raise SearchError(f"{value!r} is not a {kind} id.")
    return int(text)


def _token_param(value: str) -> tuple[str, str]:
    system, bar, code = value.partition("|")
    return (system, code) if bar else ("", value)


@dataclass(frozen=True)
class TypeSpec:
    queryset: Callable[[], QuerySet[Any]]
    updated: str
    build: Callable[[Any], dict[str, Any]]
    params: dict[str, Callable[[str], Q]]
    read_id: Callable[[str], Q]


def _patient_identifier(value: str) -> Q:
    system, code = _token_param(value)
    if system and system != MRN_SYSTEM:
        return Q(pk__in=[])
    return Q(mrn__iexact=code)


def _encounter_identifier(value: str) -> Q:
    system, code = _token_param(value)
    if system and system != ACCOUNT_SYSTEM:
        return Q(pk__in=[])
    return Q(account_number__iexact=code)


def _numeric(value: str) -> Q:
    return Q(pk=int(value)) if value.isdigit() else Q(pk__in=[])


def _administration_id(value: str) -> Q:
    try:
        return Q(pk=pk_from_record_id(value))
    except (ValueError, TypeError):
        return Q(pk__in=[])


ENCOUNTER_STATUS = {
    "in-progress": Encounter.Status.IN_PROGRESS,
    "finished": Encounter.Status.SIGNED,
}

TYPES: dict[str, TypeSpec] = {
    "Patient": TypeSpec(
        queryset=lambda: Patient.objects.all(),
        updated="updated_at",
        build=patient_resource,
        params={
            "identifier": _patient_identifier,
            "name": lambda v: Q(name__icontains=v),
            "birthdate": _birthdate,
            "gender": lambda v: Q(
                sex={"female": "F", "male": "M", "other": "O", "unknown": "U"}.get(v, "?")
            ),
            "_id": _numeric,
        },
        read_id=_numeric,
    ),
    "Encounter": TypeSpec(
        queryset=lambda: Encounter.objects.select_related("patient"),
        updated="updated_at",
        build=encounter_resource,
        params={
            "patient": lambda v: Q(patient_id=_reference_id(v, "Patient")),
            "subject": lambda v: Q(patient_id=_reference_id(v, "Patient")),
            "identifier": _encounter_identifier,
            "status": lambda v: Q(status=ENCOUNTER_STATUS.get(v, "?")),
            "_id": _numeric,
        },
        read_id=_numeric,
    ),
    "MedicationRequest": TypeSpec(
        queryset=lambda: Order.objects.select_related("drug", "encounter", "entered_by"),
        updated="updated_at",
        build=medication_request_resource,
        params={
            "patient": lambda v: Q(encounter__patient_id=_reference_id(v, "Patient")),
            "subject": lambda v: Q(encounter__patient_id=_reference_id(v, "Patient")),
            "encounter": lambda v: Q(encounter_id=_reference_id(v, "Encounter")),
            "_id": _numeric,
        },
        read_id=_numeric,
    ),
    "MedicationAdministration": TypeSpec(
        queryset=lambda: Administration.objects.select_related(
            "drug", "encounter", "order", "site", "created_by"
        ).prefetch_related("rate_changes"),
        updated="updated_at",
        build=medication_administration_resource,
        params={
            "patient": lambda v: Q(encounter__patient_id=_reference_id(v, "Patient")),
            "subject": lambda v: Q(encounter__patient_id=_reference_id(v, "Patient")),
            "context": lambda v: Q(encounter_id=_reference_id(v, "Encounter")),
            "encounter": lambda v: Q(encounter_id=_reference_id(v, "Encounter")),
            "_id": _administration_id,
        },
        read_id=_administration_id,
    ),
}

CHARGE_PARAMS: dict[str, Callable[[str], Q]] = {
    "patient": lambda v: Q(encounter__patient_id=_reference_id(v, "Patient")),
    "subject": lambda v: Q(encounter__patient_id=_reference_id(v, "Patient")),
    "context": lambda v: Q(encounter_id=_reference_id(v, "Encounter")),
    "encounter": lambda v: Q(encounter_id=_reference_id(v, "Encounter")),
}


def _page_args(request: HttpRequest) -> tuple[int, int]:
    try:
        count = int(request.GET.get("_count", DEFAULT_COUNT))
        offset = int(request.GET.get("_offset", 0))
    except ValueError:
        raise SearchError("_count and _offset are whole numbers.") from None
    if count < 0 or offset < 0:
        raise SearchError("_count and _offset are not negative.")
    return min(count, MAX_COUNT), offset


def _filters(request: HttpRequest, params: dict[str, Callable[[str], Q]], updated: str) -> Q:
    q = Q()
    for name in request.GET:
        if name in COMMON_PARAMS:
            continue
        if name not in params:
            raise SearchError(f"Search parameter {name!r} is not supported here.")
        for value in request.GET.getlist(name):
            q &= params[name](value)
    if "_lastUpdated" in request.GET:
        q &= _last_updated(request.GET.getlist("_lastUpdated"), updated)
    return q


def _bundle(
    request: HttpRequest,
    kind: str,
    resources: Iterable[dict[str, Any]],
    total: int,
    count: int,
    offset: int,
) -> dict[str, Any]:
    base = request.build_absolute_uri(request.path)
    query = {k: v for k, v in request.GET.lists() if k not in ("_offset", "_count")}

    def link(relation: str, at: int) -> dict[str, str]:
        params = urlencode(
            [*((k, v) for k, vs in query.items() for v in vs)]
            + [("_count", count), ("_offset", at)]
        )
        return {"relation": relation, "url": f"{base}?{params}"}

    links = [link("self", offset)]
    if offset + count < total:
        links.append(link("next", offset + count))
    if offset > 0:
        links.append(link("previous", max(0, offset - count)))
    root = request.build_absolute_uri("/fhir/R4/")
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": links,
        "entry": [
            {
                "fullUrl": f"{root}{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in resources
        ],
    }


@require_GET
@api_view("read")
def search(request: HttpRequest, resource_type: str) -> HttpResponse:
    if refused := _format_refused(request):
        return refused
    try:
        count, offset = _page_args(request)
        if resource_type == "ChargeItem":
            return fhir_json(_charge_items(request, count, offset))
        spec = TYPES.get(resource_type)
        if spec is None:
            return outcome(
                404, f"Resource type {resource_type!r} is not served.", code="not-supported"
            )
        found = spec.queryset().filter(_filters(request, spec.params, spec.updated)).order_by("pk")
        total = found.count()
        page = [spec.build(row) for row in found[offset : offset + count]]
    except SearchError as exc:
        return outcome(400, str(exc), code="invalid")
    return fhir_json(_bundle(request, resource_type, page, total, count, offset))


def _charge_items(request: HttpRequest, count: int, offset: int) -> dict[str, Any]:
    runs = (
        ChargeRun.objects.filter(is_current=True)
        .filter(_filters(request, CHARGE_PARAMS, "created_at"))
        .select_related("encounter__patient")
        .order_by("pk")
    )
    items: list[dict[str, Any]] = []
    for run in runs:
        items.extend(charge_item_resources(run))
    return _bundle(request, "ChargeItem", items[offset : offset + count], len(items), count, offset)


@require_GET
@api_view("read")
def read(request: HttpRequest, resource_type: str, resource_id: str) -> HttpResponse:
    if refused := _format_refused(request):
        return refused
    if resource_type == "ChargeItem":
        run_part, _, line_part = resource_id.partition("-line")
        if run_part.startswith("run") and run_part[3:].isdigit() and line_part.isdigit():
            run = (
                ChargeRun.objects.filter(pk=int(run_part[3:]))
                .select_related("encounter__patient")
                .first()
            )
            items = charge_item_resources(run) if run else []
            for item in items:
                if item["id"] == resource_id:
                    return fhir_json(item)
        return outcome(404, f"ChargeItem/{resource_id} is not known.", code="not-found")
    spec = TYPES.get(resource_type)
    if spec is None:
        return outcome(404, f"Resource type {resource_type!r} is not served.", code="not-supported")
    row: Model | None = spec.queryset().filter(spec.read_id(resource_id)).first()
    if row is None:
        return outcome(404, f"{resource_type}/{resource_id} is not known.", code="not-found")
    return fhir_json(spec.build(row))


@require_POST
@api_view("import")
def transaction_post(request: HttpRequest) -> HttpResponse:
    """A transaction Bundle of Patient, Encounter, MedicationRequest, MedicationAdministration:
    imported whole or not at all, each encounter then coded (findings, charges, the coders'
    worklist). Answers a transaction-response Bundle with each entry's location."""
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        return outcome(400, "The body is not JSON.", code="invalid")
    except RecursionError:  # thousands of nested arrays: no Bundle is that deep
        return outcome(400, "The body is nested too deeply to be a FHIR Bundle.", code="invalid")
    token: ApiToken = request.api_token  # type: ignore[attr-defined]
    try:
        result = bundle_import(bundle=body, source=token.name, now=timezone.now())
    except BundleRefused as exc:
        request.api_log = {"error": "; ".join(exc.issues)[:5000]}  # type: ignore[attr-defined]
        return outcome(exc.status, *exc.issues, code=exc.code)
    request.api_log = {"encounters": [e.pk for e in result.encounters]}  # type: ignore[attr-defined]
    return fhir_json(
        {
            "resourceType": "Bundle",
            "type": "transaction-response",
            "entry": [response_entry(result.responses[i]) for i in sorted(result.responses)],
        },
        status=200,
    )


@login_not_required
@require_GET
def metadata(request: HttpRequest) -> HttpResponse:
    """The CapabilityStatement: what this server reads, searches and accepts."""
    if refused := plain_http_refused(request):
        return refused
    searches = {
        "Patient": ["identifier", "name", "birthdate", "gender", "_id", "_lastUpdated"],
        "Encounter": ["patient", "subject", "identifier", "status", "_id", "_lastUpdated"],
        "MedicationRequest": ["patient", "subject", "encounter", "_id", "_lastUpdated"],
        "MedicationAdministration": [
            "patient",
            "subject",
            "context",
            "encounter",
            "_id",
            "_lastUpdated",
        ],
        "ChargeItem": ["patient", "subject", "context", "encounter", "_lastUpdated"],
    }
    return fhir_json(
        {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": "2026-03-01",
            "kind": "instance",
            "fhirVersion": "4.0.1",
            "format": ["json"],
            "rest": [
                {
                    "mode": "server",
                    "security": {
                        "description": "Authorization: Bearer <API token>; scopes read, import"
                    },
                    "resource": [
                        {
                            "type": kind,
                            "interaction": [{"code": "read"}, {"code": "search-type"}],
                            "searchParam": [
                                {"name": p, "type": "token" if p != "_lastUpdated" else "date"}
                                for p in params
                            ],
                        }
                        for kind, params in searches.items()
                    ],
                    "interaction": [{"code": "transaction"}],
                }
            ],
        }
    )
