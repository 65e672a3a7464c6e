"""What the chart shows of issue 17 (scans, start checks, rates, measures, site details), for
the fragments `mar/_care_*.html`; looked up by pk in the templates (`care_tags.get`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, partial
from typing import Any

from django.forms import Form
from django.http import HttpRequest
from markupsafe import Markup

from mar import care_forms
from mar import chart_reads as reads
from mar.lazy_forms import lazy
from mar.models import (
    AccessSite,
    Administration,
    BarcodeScan,
    Encounter,
    Order,
)
from mar.prepared import prefetched
from mar.roles import CODER, NURSE, PHARMACIST, user_has_role
from mar.services import measures, rates, safety, scanning
from mar.services.scanning import scan_usable_for, wrong_patient_of


@dataclass
class ChartRows:
    """The rows the whole chart's context already read (`chart_context`), so its care panels do
    not read them again (issue 19): the orders (with their drugs), the administrations (with
    their pauses, who created and double-checked them) and the access sites; the visit's
    measures when it read them (the sign-off's notes of a calculated dose given), else None."""

    orders: list[Order]
    administrations: list[Administration]
    sites: list[AccessSite]
    measures: measures.Measures | None = None


@dataclass
class Care:
    """The chart's care data. For an htmx answer about one card or one site only that part is
    filled (`care_context(card=..)`, `care_context(site=..)`): the page-wide parts stay None."""

    scan_form: Form | None = None
    patient_scan: BarcodeScan | None = None
    last_scan: BarcodeScan | None = None
    last_scan_override: Form | None = None
    last_scan_overridden: bool = False
    # A wrong patient's wristband (a hard stop, no override): whose it was, and that patient's
    # open encounter for a link to the chart (None: none open, or the user may not open charts).
    wrong_patient: Any = None
    wrong_patient_encounter: Encounter | None = None
    measures: measures.Measures | None = None
    measure_form: Form | None = None
    # The scan field and the measures' form as drawn, kept while unchanged (mar/chart_cards.py
    # `care_draw`); None: the templates draw them.
    scan_field_html: Markup | None = None
    measure_html: Markup | None = None
    orders: dict[int, dict[str, Any]] = field(default_factory=dict)
    administrations: dict[int, AdministrationCare] = field(default_factory=dict)
    sites: dict[int, dict[str, Any]] = field(default_factory=dict)
    charted_in_error: list[Any] = field(default_factory=list)


def care_context(
    request: HttpRequest,
    encounter: Encounter,
    *,
    bound: dict[str, Form] | None = None,
    card: int | None = None,
    site: int | None = None,
    cards: set[int] | None = None,
    chips: set[int] | None = None,
    orders: set[int] | None = None,
    card_adm: Administration | None = None,
    rows: ChartRows | None = None,
    scan_only: bool = False,
) -> dict[str, Any]:
    """The care data of the whole chart; with `card` (an administration's pk) or `site` (a
    site's pk), only what that card's or that site chip's htmx answer renders (issue 19: an
    answer about one card builds nothing for the rest of the chart); with `cards`, the page-wide
    parts and only these administrations' cards, (`chips`) these sites' chips and (`orders`)
    these orders' start checks (a start's answer). `card_adm`: that card's administration as the
    answer read it (with who created and double-checked it, and its pauses), so it is not read
    again; `rows`: what the chart's context read of the whole chart (page-wide only), not read
    again either. `scan_only`: of the page-wide parts only the scan panel's (a start's answer
    sends the scan panel, not the measures nor what was charted in error)."""
    bound = bound or {}
    if card is not None or site is not None:
        care = Care()
        if card is not None:
            _administrations_care(care, encounter, bound, only=card, instance=card_adm)
        if site is not None:
            _sites_care(care, encounter, bound, only=site)
        return _care_answer(care)
    scans = reads.scans(encounter.pk, encounter=encounter)
    prefetched(scans, "overrides", reads.scan_overrides([s.pk for s in scans]) if scans else [])
    last = scans[0] if scans else None
    last_override: Form | None = None
    overridden = bool(last and last.overrides.all())
    if (
        last is not None
        and last.result
        not in (
            BarcodeScan.Result.MATCH,
            BarcodeScan.Result.UNREADABLE,
            BarcodeScan.Result.WRONG_PATIENT,  # a hard stop: never overridden
        )
        and not overridden
    ):
        last_override = bound.get(f"scan-override-{last.pk}") or care_forms.ScanOverrideForm(
            scan=last, prefix=f"sc{last.pk}"
        )
    care = Care(
        # built when drawn: its field is kept drawn (mar/chart_cards.py `care_draw`, issue 19)
        scan_form=bound.get("scan") or lazy(partial(care_forms.ScanForm, prefix="scan")),
        patient_scan=next(
            (s for s in scans if s.kind == BarcodeScan.Kind.PATIENT and s.result == "match"), None
        ),
        last_scan=last,
        last_scan_override=last_override,
        last_scan_overridden=overridden,
    )
    wrong = wrong_patient_of(last) if last is not None else None
    if wrong is not None:
        care.wrong_patient, other_encounter = wrong
        if user_has_role(request.user, NURSE, CODER, PHARMACIST):  # who opens a chart
            care.wrong_patient_encounter = other_encounter
    if not scan_only:
        care.measures = (
            rows.measures
            if rows is not None and rows.measures is not None
            else measures.encounter_measures(encounter)
        )
        care.measure_form = bound.get("measure") or lazy(
            partial(care_forms.MeasureForm, encounter=encounter, prefix="m")
        )
        care.charted_in_error = reads.charted_in_error(encounter.pk, encounter=encounter)
    read = rows.orders if rows is not None else list(encounter.orders.select_related("drug"))
    # The formulary as allergies name it ("amoxicillin": a penicillin), read once for all the
    # orders, and only for a patient with an allergy recorded (mar/services/safety.py).
    names = safety.AllergyNames()
    # The visit's measures, read once and only when an order's dose is calculated (per kg, per
    # m², by AUC): the page's own when it read them.
    visit_measures = care.measures or (rows.measures if rows is not None else None)
    # The orders' drugs with no active NDC: the Start box says they cannot be scanned. Read
    # with the orders (`chart_reads.orders`: `drug_ndc_on_file`); orders read without it, here.
    wanted = [o for o in read if orders is None or o.pk in orders]
    if all(hasattr(o, "drug_ndc_on_file") for o in wanted):
        no_ndc = {o.drug_id for o in wanted if not getattr(o, "drug_ndc_on_file", True)}
    else:
        no_ndc = scanning.drugs_without_ndc({o.drug_id for o in wanted})
    for order in read:
        if orders is not None and order.pk not in orders:
            continue
        order.encounter = encounter  # its patient already read with it
        usable = next(
            (s for s in scans if s.order_id in (order.pk, None) and scan_usable_for(s, order)), None
        )
        allergy = safety.allergy_warning(encounter.patient, order.drug, names)
        checks = bound.get(f"checks-O{order.pk}") or lazy(
            partial(
                care_forms.StartChecksForm,
                order=order,
                request=request,
                prefix=f"o{order.pk}",
                initial={"scan": usable.pk if usable else None},
            )
        )
        care.orders[order.pk] = {
            "scan": usable,
            "checks": checks,
            "chemo": safety.is_chemotherapy(order),
            "high_alert": safety.is_high_alert(order),
            "needs_verification": safety.needs_verification(order),
            # Returned by pharmacy: why it does not start (mar/_order_checks.jinja).
            "returned": safety.returned_stop(order),
            # The one matcher's sentence, with the class it matched through (QA: the Start box
            # left out "(penicillin class)" the clerk's and pharmacist's screens say).
            "allergy": allergy,
            # Only a cross-sensitivity: the lower severity's colour and words.
            "allergy_cross": safety.allergy_cross_only(allergy),
            "allergy_overrides": [],
            # A dose calculated from measures this visit has not recorded: an amber note, not
            # a stop (safety.calculated_dose_note); in the info dict, so the row's kept key
            # (chart_cards._order_shown) changes with it.
            "dose_note": "",
            # No active NDC in the formulary: no barcode can match it (QA: the nurse was left
            # wondering, the start counted "Not scanned"); in the info dict, so the kept key
            # changes when pharmacy adds its package.
            "no_ndc": scanning.no_ndc_note(order.drug.name) if order.drug_id in no_ndc else "",
        }
        if safety.order_dose_needs(order) is not None:
            if visit_measures is None:
                visit_measures = measures.encounter_measures(encounter)
            care.orders[order.pk]["dose_note"] = safety.calculated_dose_note(order, visit_measures)
    # Beside the warning, who overrode it before her, when and why: the clerk at order entry,
    # the pharmacist at verification, a nurse at an earlier start (QA: the Start box said the
    # allergy, not that the prescriber had confirmed it). Read only where a warning is shown:
    # one statement, none on a chart without one.
    warned = [pk for pk, info in care.orders.items() if info["allergy"]]
    for pk, overrides in safety.allergy_overrides(warned).items():
        care.orders[pk]["allergy_overrides"] = [
            {
                "stage": safety.override_stage(override),
                "by": override.by.get_username(),
                "at": override.at,
                "reason": override.reason,
            }
            for override in overrides
        ]
    _administrations_care(
        care, encounter, bound, among=cards, read=rows.administrations if rows else None
    )
    _sites_care(care, encounter, bound, among=chips, read=rows.sites if rows else None)
    return _care_answer(care)


def _care_answer(care: Care) -> dict[str, Any]:
    return {
        "care": care,
        "pause_reason_choices": care_forms.PauseReasonForm.base_fields["reason"].choices,  # type: ignore[attr-defined]
    }


def _administrations_care(
    care: Care,
    encounter: Encounter,
    bound: dict[str, Form],
    only: int | None = None,
    among: set[int] | None = None,
    instance: Administration | None = None,
    read: list[Administration] | None = None,
) -> None:
    """`instance`: the one card's administration, already read; `read`: every administration
    of the chart, already read with their pauses and who created and double-checked them."""
    administrations: list[Administration]
    if instance is not None and instance.pk == only:
        administrations = [instance]
    elif read is not None and only is None:
        administrations = [a for a in read if among is None or a.pk in among]
    else:
        wanted = [only] if only is not None else None
        if among is not None:
            wanted = sorted(among if wanted is None else set(wanted) & among)
        administrations = reads.with_pauses(
            reads.administrations_named(encounter.pk, wanted, encounter=encounter)
            if wanted is not None
            else reads.administrations(encounter.pk, encounter=encounter)
        )
    # who, joined (prepared reads: mar/chart_reads.py)
    ids = [a.pk for a in administrations]
    prefetched(administrations, "rate_changes", reads.rate_changes(ids) if ids else [])
    prefetched(administrations, "overrides", reads.administration_overrides(ids) if ids else [])
    for adm in administrations:
        segments = rates.rate_segments(adm)
        care.administrations[adm.pk] = AdministrationCare(
            adm,
            bound,
            encounter,
            double_check=(
                f"{adm.created_by.get_username() if adm.created_by else '?'} and "
                f"{adm.double_checked_by.get_username()}"
                if adm.double_checked_by
                else ""
            ),
            rate_changes=list(adm.rate_changes.all()),
            rate_now=segments[-1][1] if segments else None,
            overrides=list(adm.overrides.all()),
        )


class AdministrationCare:
    """One card's care panel: what was charted, and its forms, each built only when the card
    draws it (a push draws no rate or volume form; issue 19: a form costs a deep copy of its
    fields, and the chart page builds one card per administration)."""

    def __init__(
        self,
        adm: Administration,
        bound: dict[str, Form],
        encounter: Encounter,
        *,
        double_check: str,
        rate_changes: list[Any],
        rate_now: Any,
        overrides: list[Any],
    ) -> None:
        self._adm, self._bound, self._encounter = adm, bound, encounter
        self.double_check = double_check
        self.rate_changes = rate_changes
        self.rate_now = rate_now
        self.overrides = overrides

    @cached_property
    def rate_form(self) -> Form:
        adm = self._adm
        return self._bound.get(f"rate-A{adm.pk}") or care_forms.RateChangeForm(
            encounter=self._encounter, prefix=f"r{adm.pk}", initial={"version": adm.version}
        )

    @cached_property
    def rate_rows(self) -> list[tuple[Any, Form, Form]]:
        """Each rate change with its correction's form (rate, time) and its removal's, as sent
        when refused (`rate-A<adm>-<row>`, `...-remove`)."""
        adm, rows = self._adm, []
        for rc in self.rate_changes:
            key = f"rate-A{adm.pk}-{rc.pk}"
            edit = self._bound.get(key) or care_forms.RateChangeEditForm(
                encounter=self._encounter,
                prefix=f"rc{rc.pk}",
                initial={
                    "rate_ml_h": f"{rc.rate_ml_h.normalize():f}",  # 152, not 152.00
                    "at": rc.at,
                    "version": adm.version,
                },
            )
            remove = self._bound.get(f"{key}-remove") or care_forms.RateChangeRemoveForm(
                prefix=f"rcx{rc.pk}", initial={"version": adm.version}
            )
            rows.append((rc, edit, remove))
        return rows

    @cached_property
    def remove_form(self) -> Form:
        adm = self._adm
        return self._bound.get(f"remove-A{adm.pk}") or care_forms.AdministrationRemoveForm(
            prefix=f"rm{adm.pk}", initial={"version": adm.version}
        )

    @cached_property
    def volumes_form(self) -> Form:
        adm = self._adm
        return self._bound.get(f"volumes-A{adm.pk}") or care_forms.VolumesForm(
            prefix=f"v{adm.pk}",
            initial={
                "rate_ml_h": adm.rate_ml_h,
                "bag_volume_ml": adm.bag_volume_ml,
                "vtbi_ml": adm.vtbi_ml,
                "volume_infused_ml": adm.volume_infused_ml,
            },
        )


def _sites_care(
    care: Care,
    encounter: Encounter,
    bound: dict[str, Form],
    only: int | None = None,
    among: set[int] | None = None,
    read: list[AccessSite] | None = None,
) -> None:
    """`read`: every site of the chart, already read."""
    sites: list[AccessSite]
    if read is not None and only is None:
        sites = [s for s in read if among is None or s.pk in among]
    else:
        found = (
            reads.site(encounter.pk, only, encounter=encounter)
            if only is not None
            else reads.sites(encounter.pk, encounter=encounter)
        )
        sites = [s for s in found if among is None or s.pk in among]
    ids = [s.pk for s in sites]
    prefetched(sites, "assessments", reads.assessments(ids) if ids else [])
    for site in sites:
        # Built when drawn (mar/lazy_forms.py): a chip kept drawn (mar/chart_cards.py) reads none.
        care.sites[site.pk] = {
            "assessments": list(site.assessments.all()),
            "details_form": bound.get(f"site-details-S{site.pk}")
            or lazy(partial(care_forms.SiteDetailsForm, instance=site, prefix=f"sd{site.pk}")),
            "condition_form": bound.get(f"site-condition-S{site.pk}")
            or lazy(
                partial(care_forms.SiteConditionForm, encounter=encounter, prefix=f"sc-s{site.pk}")
            ),
        }
