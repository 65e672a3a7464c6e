"""Services outside the IV hierarchy, each coded on its own (coding-rules.md §3).

SQ and IM injections (one per drug per session), SQ infusions (96369-96371) and intra-arterial
services (their own access, their own initial codes), the start of a prolonged pump infusion
(96416 / G0498 / 96425), intralesional, intrathecal and cavity chemotherapy, and the irrigation of
an implanted port when it is the only service.
"""

from __future__ import annotations

from collections import defaultdict

from . import codes
from . import rules as r
from .book import Book
from .classify import Service
from .record import Policy
from .result import Finding
from .terms import hhmm, number_of
from .timing import HOUR, additional_hours, instant_after


def code_outside_hierarchy(book: Book, services: list[Service]) -> None:
    _code_injections(book, [s for s in services if s.kind == "injection"])
    _code_sq_infusions(book, [s for s in services if s.kind == "sq_infusion"])
    _code_intra_arterial(book, [s for s in services if s.kind in ("ia_infusion", "ia_push")])
    _code_intralesional(book, [s for s in services if s.kind == "intralesional"])
    for service in services:
        if service.kind == "pump":
            _code_pump(book, service)
        elif service.kind in ("intrathecal", "intracavitary"):
            _code_into_a_space(book, service)


def pump_code(service: Service, policy: Policy) -> tuple[str, str]:
    """The code a prolonged pump's start earns and the words for its reason.

    96416 (96425 intra-arterial). Medicare's G0498 (policy `facility_pump_code=G0498`) is for
    a portable pump the facility supplies (HCPCS G0498: "initiation of infusion in the
    office/clinic setting using office/clinic pump/supplies, with continuation of the infusion
    in the community setting ... using a portable pump provided by the office/clinic"), never
    for an implanted one, which stays 96416 (RULEBOOK.md PUMP-G0498-PORTABLE).
    """
    lead = service.lead
    if lead.route != "iv":
        return codes.PUMP_START_IA, ""
    if policy.facility_pump_code == codes.PUMP_START_IV:
        return codes.PUMP_START_IV, ""
    if lead.pump == "implanted":
        return codes.PUMP_START_IV, (
            f" (policy facility_pump_code={policy.facility_pump_code} is for a portable pump the "
            "facility supplies, never an implanted pump: 96416)"
        )
    code = policy.facility_pump_code
    return code, f" (policy facility_pump_code={code}: pump supplied by the facility)"


def _code_pump(book: Book, service: Service) -> None:
    lead = service.lead
    code, policy = pump_code(service, book.policy)
    book.add(
        code,
        [lead.start.timestamp()],
        service.ids,
        f"initiation of a prolonged chemotherapy infusion: {service.drugs} on a {lead.pump} pump "
        f"planned for {lead.planned_hours:g} h (more than 8); reported on its own, not ranked "
        f"against the initial service{policy}",
        rules=(r.PUMP_START, *((r.PUMP_G0498,) if policy else ()), *service.rules),
    )


def _code_injections(book: Book, injections: list[Service]) -> None:
    """SQ/IM injections: one per drug per session (policy `split_dose_injections`).

    Syringes of one drug by the same route within `split_dose_window_minutes` (policy, default
    30) of the session's first syringe are one session; sources give no fixed window.
    """
    window = book.policy.split_dose_window_minutes
    sessions: list[list[Service]] = []
    for service in sorted(injections, key=lambda s: (s.start, s.lead.id)):
        for session in sessions:
            head = session[0]
            if (
                head.drug_key == service.drug_key
                and head.lead.route == service.lead.route
                and service.start - head.start <= window * 60
            ):
                session.append(service)
                break
        else:
            sessions.append([service])
    for session in sessions:
        head = session[0]
        code = codes.SQ_IM_INJECTION[head.drug_class]
        route = "IM" if head.lead.route == "im" else "SQ"
        what = {
            "96401": "non-hormonal antineoplastic",
            "96402": "hormonal antineoplastic",
            "96372": "therapeutic",
        }[code]
        note = f"; {head.note}" if head.note else ""
        if len(session) > 1:
            note += (
                f"; syringes within {window} min of the first are one session (policy "
                f"split_dose_window_minutes={window})"
            )
        base = (
            f"{route} {what} injection of {head.drugs}: reported on its own, outside the IV "
            f"hierarchy{note}"
        )
        applied = (
            r.INJECTION,
            *((r.SPLIT_DOSE,) if len(session) > 1 else ()),
            *(rule for s in session for rule in s.rules),
        )
        if len(session) == 1:
            book.add(code, [head.start], head.ids, base, rules=applied)
        elif book.policy.split_dose_injections == "one":
            ids = tuple(i for s in session for i in s.ids)
            book.add(
                code,
                [head.start],
                ids,
                f"{base}; one drug in {len(session)} syringes at one session is one injection "
                "(policy split_dose_injections=one)",
                rules=applied,
            )
        else:
            for n, service in enumerate(session):
                book.add(
                    code,
                    [service.start],
                    service.ids,
                    f"{base}; syringe {n + 1} of {len(session)} reported separately "
                    "(policy split_dose_injections=each)",
                    rules=applied,
                    modifiers=("59",) if n else (),
                )


def _code_sq_infusions(book: Book, infusions: list[Service]) -> None:
    """96369 for the longest SQ infusion (with its hours on 96370), 96371 for an additional pump
    set-up with a new SQ site; CPT: 96369 and 96371 only once per encounter.

    A set-up includes every site its pump feeds: 96369 is "including pump set-up and
    establishment of subcutaneous infusion site(s)", 96371 "additional pump set-up with
    establishment of new subcutaneous infusion site(s)". A new site whose infusion of the same
    drug(s) started together with a set-up already coded is another needle of that pump (the
    several sites of one immune globulin infusion), not an additional set-up; a new site started
    at another time, or with another drug (another pump), is."""
    if not infusions:
        return
    ordered = sorted(infusions, key=lambda s: (-s.minutes, s.start, s.lead.id))
    initial = ordered[0]
    book.add(
        codes.SQ_INFUSION_INITIAL,
        [initial.start],
        initial.ids,
        f"initial SQ infusion incl. pump set-up: {initial.drugs} {initial.timing()}; "
        "longest SQ infusion of the encounter",
        rules=(r.SQ_INFUSION, *initial.rules),
    )
    hours = additional_hours(initial.minutes)
    if hours:
        book.add(
            codes.SQ_INFUSION_ADDITIONAL_HOUR,
            [instant_after(list(initial.spans), HOUR * k) for k in range(1, hours + 1)],
            initial.ids,
            f"SQ infusion {initial.minutes} min: {number_of(hours, 'additional hour')}",
            rules=(r.ADDITIONAL_HOUR, r.SQ_INFUSION, *initial.rules),
        )
    sites_used = {initial.site}
    set_ups = {(initial.start, initial.drugs): codes.SQ_INFUSION_INITIAL}  # when, which drug(s)
    new_site_coded = False
    for service in sorted(ordered[1:], key=lambda s: (s.start, s.lead.id)):
        if service.site is not None and service.site not in sites_used:
            sites_used.add(service.site)
            same_pump = set_ups.get((service.start, service.drugs))
            if same_pump is not None:
                book.skip(
                    service.ids,
                    f"{service.drugs}: another SQ site ({service.site}) of the pump set-up coded "
                    f"as {same_pump}, started with it: its sites are included (CPT: "
                    '"establishment of subcutaneous infusion site(s)")',
                    rules=(r.SQ_INFUSION, *service.rules),
                )
                continue
            if new_site_coded:
                book.skip(
                    service.ids,
                    f"{service.drugs}: another new SQ infusion site ({service.site}), but 96371 "
                    "is reported only once per encounter (CPT)",
                    rules=(r.SQ_INFUSION_NEW_SITE, *service.rules),
                )
                continue
            new_site_coded = True
            set_ups[(service.start, service.drugs)] = codes.SQ_INFUSION_NEW_SITE
            book.add(
                codes.SQ_INFUSION_NEW_SITE,
                [service.start],
                service.ids,
                f"additional pump set-up with a new SQ infusion site ({service.site}) for "
                f"{service.drugs}; once per encounter",
                rules=(r.SQ_INFUSION_NEW_SITE, *service.rules),
            )
        else:
            book.skip(
                service.ids,
                f"{service.drugs}: another SQ infusion through a site already set up is "
                "included in 96369/96370",
                rules=(r.SQ_INFUSION, *service.rules),
            )


def _code_intra_arterial(book: Book, services: list[Service]) -> None:
    """Intra-arterial services have their own access: coded per site, apart from the IV ranking."""
    by_site: dict[str | None, list[Service]] = defaultdict(list)
    for service in services:
        by_site[service.site].append(service)
    for site in sorted(by_site, key=lambda s: s or ""):
        infused = False
        for service in sorted(by_site[site], key=lambda s: (-s.minutes, s.start, s.lead.id)):
            if service.kind == "ia_push":
                book.add(
                    codes.IA_PUSH[service.family],
                    [service.start],
                    service.ids,
                    f"intra-arterial push of {service.drugs}"
                    + (f"; {service.note}" if service.note else ""),
                    rules=(r.INTRA_ARTERIAL, *service.rules),
                )
            elif service.family != "chemo":
                # CPT has no specific code for it; its unlisted code keeps the service billable
                # (and a longer infusion never earns less than the injection it would be).
                book.add(
                    codes.UNLISTED_INJECTION_OR_INFUSION,
                    [service.start],
                    service.ids,
                    f"therapeutic intra-arterial infusion of {service.drugs} {service.timing()}: "
                    "no specific CPT code, reported as unlisted 96379",
                    rules=(r.IA_UNLISTED, "CODING-UNLISTED", r.INTRA_ARTERIAL, *service.rules),
                )
                book.findings.append(
                    Finding(
                        "CODING-UNLISTED",
                        "warning",
                        f"96379 (unlisted) for the intra-arterial infusion of {service.drugs}: "
                        "the claim needs the procedure note attached",
                        service.ids,
                    )
                )
            elif infused:
                book.skip(
                    service.ids,
                    f"{service.drugs}: CPT has no add-on for another intra-arterial infusion "
                    "through the same access",
                    rules=(r.INTRA_ARTERIAL, *service.rules),
                )
            else:
                infused = True
                book.add(
                    codes.IA_INFUSION_INITIAL,
                    [service.start],
                    service.ids,
                    f"intra-arterial chemotherapy infusion, initial: {service.drugs} "
                    f"{service.timing()}",
                    rules=(r.INTRA_ARTERIAL, *service.rules),
                )
                hours = additional_hours(service.minutes)
                if hours:
                    book.add(
                        codes.IA_INFUSION_ADDITIONAL_HOUR,
                        [instant_after(list(service.spans), HOUR * k) for k in range(1, hours + 1)],
                        service.ids,
                        f"intra-arterial infusion {service.minutes} min: "
                        f"{number_of(hours, 'additional hour')}",
                        rules=(r.ADDITIONAL_HOUR, r.INTRA_ARTERIAL, *service.rules),
                    )


def _code_intralesional(book: Book, services: list[Service]) -> None:
    """Intralesional chemotherapy is one service per session: the lesions treated in the session
    are added before choosing 96405 (up to 7) or 96406 (more than 7), never both (CPT: 96405
    "up to and including 7 lesions", 96406 "more than 7 lesions", per session)."""
    if not services:
        return
    ordered = sorted(services, key=lambda s: (s.start, s.lead.id))
    unstated = [s for s in ordered if s.lead.lesions is None]
    lesions = sum(s.lead.lesions or 0 for s in ordered)
    drugs = ", ".join(dict.fromkeys(s.drugs for s in ordered))
    ids = tuple(i for s in ordered for i in s.ids)
    if unstated:
        unstated_drugs = ", ".join(dict.fromkeys(s.drugs for s in unstated))
        book.findings.append(
            Finding(
                "CODING-LESIONS",
                "warning",
                f"The number of lesions injected with {unstated_drugs} is not charted: "
                "counted as one lesion (96405 unless the others make more than 7)",
                tuple(i for s in unstated for i in s.ids),
                "lesions",
            )
        )
    counted = lesions + len(unstated)
    if counted > codes.INTRALESIONAL_MAX_LESIONS_FOR_96405:
        code, words = codes.INTRALESIONAL_MORE_THAN_7, f"{counted} lesions (more than 7)"
    else:
        stated = f"{counted}" if not unstated else f"{counted} (some unstated)"
        noun = "lesion" if counted == 1 else "lesions"
        code, words = codes.INTRALESIONAL_UP_TO_7, f"{stated} {noun} (up to 7)"
    session = (
        f"; the lesions of {len(ordered)} administrations added: one service per session"
        if len(ordered) > 1
        else ""
    )
    book.add(
        code,
        [ordered[0].start],
        ids,
        f"intralesional chemotherapy: {drugs}, {words}{session}",
        rules=(
            r.INTRALESIONAL,
            *(("CODING-LESIONS",) if unstated else ()),
            *(rule for s in ordered for rule in s.rules),
        ),
    )


def _code_into_a_space(book: Book, service: Service) -> None:
    site = book.record.site(service.site)
    where = f"{site.kind} {site.location}".lower() if site else ""
    if service.lead.route == "intrathecal":
        if "ventric" in where or "ommaya" in where:
            code, words = codes.VENTRICULAR_RESERVOIR, "via a ventricular reservoir"
        else:
            code, words = codes.INTRATHECAL, "into the CNS (intrathecal)"
    elif "pleur" in where:
        code, words = codes.PLEURAL_CAVITY, "into the pleural cavity"
    elif "periton" in where:
        code, words = codes.PERITONEAL_CAVITY, "into the peritoneal cavity"
    else:
        message = (
            f"{service.drugs} was given into a body cavity, but the site does not say which "
            "(pleural 96440 or peritoneal 96446)"
        )
        book.findings.append(Finding("CODING-ROUTE", "error", message, service.ids, "site"))
        book.skip(service.ids, message, rules=(r.INTO_A_SPACE, "CODING-ROUTE", *service.rules))
        return
    book.add(
        code,
        [service.start],
        service.ids,
        f"chemotherapy {words}: {service.drugs}",
        rules=(r.INTO_A_SPACE, *service.rules),
    )


def code_port_irrigation(book: Book) -> None:
    """96523 only when irrigating an implanted port is the sole service of the encounter."""
    if book.record.administrations:
        return
    ports = {s.id for s in book.record.sites if s.kind == "port"}
    flushes = [f for f in book.record.flushes if f.site in ports]
    if flushes:
        book.add(
            codes.PORT_IRRIGATION,
            [flushes[0].at.timestamp()],
            (),
            f"irrigation of implanted venous access device {flushes[0].site} at "
            f"{hhmm(flushes[0].at, book.record.encounter.timezone)}: the only service of the "
            "encounter",
            rules=(r.PORT_IRRIGATION,),
        )
