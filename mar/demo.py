"""A day of realistic encounters for the demo: what `manage.py demo` loads.

Times are relative to now, so the board has infusions running whatever the hour. Signed
encounters go through signature_store, so their charges come from the real task.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.auth.models import Group, User
from django.db import transaction
from django.utils import timezone

from mar import roles
from mar.hl7.inbound import message_receive
from mar.models import (
    AccessSite,
    Administration,
    BarcodeScan,
    Drug,
    DrugNdc,
    Encounter,
    Flush,
    Order,
    Pause,
    Payer,
)
from mar.payers import payer_policy_first, payer_policy_set
from mar.services.signature import signature_store
from mar.validators import ndc_display

INFUSION_CENTER = "Infusion Center"
ED = "Emergency Department"
DEMO_MRN_PREFIX = "DEMO-"

SINGLE, MULTI = Drug.Container.SINGLE_DOSE, Drug.Container.MULTI_DOSE
# How the demo pharmacy's products come, from their US labels (the starter file does not say):
# the antibodies, oxaliplatin and bortezomib in single-dose vials; carboplatin and paclitaxel
# injection in multiple-dose vials, so they never take JW/JZ. The rest stay "not stated" (some,
# like cisplatin, ondansetron or trastuzumab, come both ways, depending on the product stocked).
DEMO_CONTAINERS = {
    "oxaliplatin": SINGLE,
    "bortezomib": SINGLE,
    "bevacizumab": SINGLE,
    "pertuzumab": SINGLE,
    "rituximab": SINGLE,
    "cetuximab": SINGLE,
    "pembrolizumab": SINGLE,
    "nivolumab": SINGLE,
    "atezolizumab": SINGLE,
    "durvalumab": SINGLE,
    "infliximab": SINGLE,
    "vedolizumab": SINGLE,
    "ocrelizumab": SINGLE,
    "natalizumab": SINGLE,
    "tocilizumab": SINGLE,
    "carboplatin": MULTI,
    "paclitaxel": MULTI,
    "ondansetron": MULTI,
}


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    role: str


# Fixed, printed demo passwords: the command refuses to run in production. Two nurses: a
# chemotherapy start needs an independent double check by a second nurse signing in with her own
# password (mar/services/safety.py), which one demo nurse could not do (QA).
DEMO_USERS = (
    DemoUser("nurse", "nurse-demo-pass", roles.NURSE),
    DemoUser("nurse2", "nurse2-demo-pass", roles.NURSE),
    DemoUser("pharmacist", "pharmacist-demo-pass", roles.PHARMACIST),
    DemoUser("coder", "coder-demo-pass", roles.CODER),
    DemoUser("admin", "admin-demo-pass", roles.ADMIN),
    DemoUser("clerk", "clerk-demo-pass", roles.CLERK),
)


def demo_users_ensure() -> dict[str, User]:
    """The demo users by username ("nurse", "nurse2", "pharmacist", ...)."""
    users = {}
    for spec in DEMO_USERS:
        user, _ = User.objects.get_or_create(username=spec.username)
        user.set_password(spec.password)
        user.is_staff = spec.role == roles.ADMIN
        user.is_superuser = spec.role == roles.ADMIN
        user.save()
        user.groups.add(Group.objects.get(name=spec.role))
        users[spec.username] = user
    return users


@dataclass(frozen=True)
class DemoPayer:
    name: str
    financial_class: str
    policy: dict[str, str]  # the engine's policy keys that differ from the rules' defaults
    why: str


# Payers to choose on a new visit, each with a coding policy (coding-rules.md §7, the engine's
# Policy): the choices where published sources disagree, so that choosing one shows in the
# charges' reasons. Without them a new visit's Payer list offered only "none" (QA).
DEMO_PAYERS = (
    DemoPayer(
        "Medicare Part B",
        Payer.FinancialClass.MEDICARE,
        {
            "second_site_modifier": "XU",
            "second_encounter_modifier": "XE",
            "facility_pump_code": "G0498",
        },
        "Demo: CMS's X modifiers, and G0498 for a portable pump the facility supplies",
    ),
    DemoPayer(
        "Medicaid",
        Payer.FinancialClass.MEDICAID,
        {},
        "Demo: the rules' defaults",
    ),
    DemoPayer(
        "Acme Health PPO",
        Payer.FinancialClass.COMMERCIAL,
        {"hydration_segments": "continuous", "split_dose_injections": "each"},
        "Demo: hydration runs judged each on its own; each syringe of a split dose an injection",
    ),
    DemoPayer(
        "Self-pay",
        Payer.FinancialClass.SELF_PAY,
        {},
        "Demo: the rules' defaults",
    ),
)


def demo_payers_ensure(*, by: User) -> list[Payer]:
    """The demo payers, each with its coding policy as DEMO_PAYERS says (a new version only
    when it differs from the current one)."""
    payers = []
    for spec in DEMO_PAYERS:
        payer, _ = Payer.objects.get_or_create(
            name=spec.name, defaults={"financial_class": spec.financial_class}
        )
        current = payer_policy_first(payer=payer, by=by)
        if spec.policy:
            values = {**current.values, **spec.policy}
            payer_policy_set(payer=payer, values=values, reason=spec.why, by=by)
        payers.append(payer)
    return payers


class _Chart:
    """Small helpers to write one encounter the way a nurse would chart it."""

    def __init__(self, encounter: Encounter, nurse: User, pharmacist: User | None = None) -> None:
        """`pharmacist`: who verified the orders, before they were given (a chemotherapy order
        starts only once verified); None leaves them for the pharmacist's list, as an order
        given in an emergency before pharmacy saw it is."""
        self.encounter = encounter
        self.nurse = nurse
        self.pharmacist = pharmacist

    def site(self, kind: str, location: str, at: datetime, reason: str = "") -> AccessSite:
        return AccessSite.objects.create(
            encounter=self.encounter,
            kind=kind,
            location=location,
            placed_at=at,
            assessed_at=at,
            separate_site_reason=reason,
        )

    def order(
        self, drug: str, dose: str, indication: str, *, verify: bool = True, **extra: object
    ) -> Order:
        """`verify=False`: an order pharmacy has not seen yet (on the pharmacist's list)."""
        arrived = self.encounter.arrived_at  # ordered on arrival, verified minutes later
        verified = (
            {"verified_by": self.pharmacist, "verified_at": arrived + timedelta(minutes=3)}
            if self.pharmacist is not None and verify
            else {}
        )
        return Order.objects.create(
            encounter=self.encounter,
            drug=Drug.objects.get(name=drug),
            dose=dose,
            indication=indication,
            ordering_provider="Dr. Amara Okafor",
            created_at=arrived,
            **verified,
            **extra,
        )

    def give(
        self,
        order: Order,
        site: AccessSite | None,
        start: datetime,
        stop: datetime | None,
        method: str = Administration.Method.INFUSION,
        scans: tuple[str, ...] = ("wristband", "drug"),
        **extra: object,
    ) -> Administration:
        """Given as charted at the bedside at `start`; `scans`: what was scanned a minute
        before it (the wristband, the drug's barcode when the drug has a demo NDC), for the
        chart's cards and the pharmacist's scan-compliance report."""
        adm = Administration.objects.create(
            encounter=self.encounter,
            order=order,
            drug=order.drug,
            site=site,
            route=order.route,
            method=method,
            start=start,
            stop=stop,
            created_by=self.nurse,
            charted_at=start,
            **extra,
        )
        before = start - timedelta(minutes=1)
        patient = self.encounter.patient
        changed = []
        if "wristband" in scans:
            adm.patient_scan = BarcodeScan.objects.create(
                encounter=self.encounter, kind=BarcodeScan.Kind.PATIENT, raw=patient.mrn,
                result=BarcodeScan.Result.MATCH, by=self.nurse, at=before,
                message=f"Patient confirmed: {patient.name}, MRN {patient.mrn}.",
            )  # fmt: skip
            changed.append("patient_scan")
        package = order.drug.ndcs.filter(active=True).first()
        if "drug" in scans and package is not None:
            adm.drug_scan = BarcodeScan.objects.create(
                encounter=self.encounter, kind=BarcodeScan.Kind.DRUG, raw=ndc_display(package.ndc),
                result=BarcodeScan.Result.MATCH, by=self.nurse, at=before, order=order,
                drug=order.drug, ndc=package.ndc, administration=adm,
                message=f"Matches the order {order}: NDC {ndc_display(package.ndc)}.",
            )  # fmt: skip
            adm.ndc = package.ndc
            changed += ["drug_scan", "ndc"]
        if changed:
            adm.save(update_fields=changed)
        return adm

    def flush(self, site: AccessSite, at: datetime) -> None:
        Flush.objects.create(encounter=self.encounter, site=site, at=at)


def demo_containers_ensure() -> int:
    """Give the demo formulary's drugs their containers, where none is stated yet (a
    pharmacist's own choice is kept). Returns the number of drugs changed."""
    changed = 0
    for name, container in DEMO_CONTAINERS.items():
        changed += Drug.objects.filter(name=name, container="").update(container=container)
    return changed


# The formulary's maximum single dose of some demo drugs (Drug.max_dose_amount/unit, DOSE-MAX in
# mar/services/dose_check.py), from the FDA label or guideline cited; a demo of the check, to be
# confirmed by the hospital's pharmacists before any real use.
DEMO_MAX_DOSES: dict[str, tuple[str, str]] = {
    # Zofran (ondansetron) injection label, Dosage and Administration 2.1 and the FDA Drug
    # Safety Communication of 2012-06-29: no single intravenous dose above 16 mg (QT
    # prolongation).
    "ondansetron": ("16", "mg"),
    # Vancomycin: ASHP/IDSA/PIDS/SIDP consensus guideline (Rybak et al., Am J Health-Syst Pharm
    # 2020;77:835-864): loading doses of 20-35 mg/kg, not above 3,000 mg.
    "vancomycin": ("3", "g"),
    # Diphenhydramine hydrochloride injection label: 10-50 mg IV, 100 mg if required; maximum
    # daily 400 mg.
    "diphenhydramine": ("100", "mg"),
    # Dexamethasone sodium phosphate injection label: initial dosage up to 20 mg (the highest
    # usual single dose of the label's general table; shock regimens excepted).
    "dexamethasone": ("20", "mg"),
}


# The formulary's maximum single dose by body size of some demo drugs (Drug.max_dose_per_kg_* and
# max_dose_per_m2_*, DOSE-MAX in mar/services/dose_check.py): (per "kg" or "m2", amount, unit),
# from the label or guideline cited; a demo of the check, to be confirmed by the hospital's
# pharmacists before any real use. (IV acetaminophen, 15 mg/kg under 50 kg on the Ofirmev label,
# is not in the starter formulary; carboplatin's is an AUC, not a maximum by body size.)
DEMO_MAX_DOSES_BY_BODY: dict[str, tuple[str, str, str]] = {
    # Zofran (ondansetron) injection label, 2.1 (chemotherapy-induced nausea, 6 months to 18
    # years): three doses of 0.15 mg/kg, each up to 16 mg (the fixed maximum above).
    "ondansetron": ("kg", "0.15", "mg"),
    # Vancomycin: ASHP/IDSA/PIDS/SIDP consensus guideline (Rybak et al., Am J Health-Syst Pharm
    # 2020;77:835-864): a loading dose of 20-35 mg/kg actual body weight, not above 3,000 mg.
    "vancomycin": ("kg", "35", "mg"),
    # Gentamicin, extended-interval dosing (Nicolau et al., Antimicrob Agents Chemother
    # 1995;39:650-655, the Hartford nomogram): 7 mg/kg once daily.
    "gentamicin": ("kg", "7", "mg"),
    # Doxorubicin hydrochloride injection label, 2.2: 60 to 75 mg/m² as a single agent every
    # 21 days.
    "doxorubicin": ("m2", "75", "mg"),
}


def demo_max_doses_ensure() -> int:
    """Give the demo formulary's drugs their maximum single dose, fixed and by body size, where
    none is kept yet (a pharmacist's own is kept). Returns the number of maxima set."""
    changed = 0
    for name, (amount, unit) in DEMO_MAX_DOSES.items():
        changed += Drug.objects.filter(name=name, max_dose_amount__isnull=True).update(
            max_dose_amount=Decimal(amount), max_dose_unit=unit
        )
    for name, (per, amount, unit) in DEMO_MAX_DOSES_BY_BODY.items():
        changed += Drug.objects.filter(
            name=name, **{f"max_dose_per_{per}_amount__isnull": True}
        ).update(
            **{f"max_dose_per_{per}_amount": Decimal(amount), f"max_dose_per_{per}_unit": unit}
        )
    return changed


# Demo packages for the drugs the demo day gives, so scanning (BCMA) and the drug lines' NDC work
# in the demo. Labeler 99999 is no real company: these are not real products. (NDC, NDC unit,
# NDC units in one billing unit of the HCPCS, from the concentration on the demo package: a
# number, or "per N" for N billing units in one NDC unit where the first is no terminating
# decimal, DrugNdc.billing_units_per_ndc_unit: paclitaxel 6 mg/mL billed per 1 mg is 6 per mL,
# not 0.1667 mL, or 300 mg would be claimed as 50.01 mL.)
DEMO_NDCS: dict[str, tuple[str, str, str, str]] = {
    "ondansetron": ("99999000110", "ML", "0.5", "2 mg/mL, 20 mL multi-dose vial"),
    "dexamethasone": ("99999000210", "ML", "0.1", "10 mg/mL, 1 mL vial"),
    "diphenhydramine": ("99999000310", "ML", "1", "50 mg/mL, 1 mL vial"),
    "paclitaxel": ("99999000410", "ML", "per 6", "6 mg/mL, 50 mL multi-dose vial"),
    "cisplatin": ("99999000510", "ML", "10", "1 mg/mL, 100 mL vial"),
    "carboplatin": ("99999000610", "ML", "5", "10 mg/mL, 45 mL multi-dose vial"),
    "bevacizumab": ("99999000710", "ML", "0.4", "25 mg/mL, 16 mL single-dose vial"),
    "oxaliplatin": ("99999000810", "ML", "0.1", "5 mg/mL, 20 mL single-dose vial"),
    "sodium chloride 0.9%": ("99999000910", "ML", "1000", "1000 mL bag"),
}


def demo_ndcs_ensure() -> int:
    """Give the demo day's drugs a (demo) NDC each, where the drug has none yet (a pharmacist's
    own NDCs are kept). Returns the number of NDCs added."""
    added = 0
    for name, (ndc, unit, per_unit, package) in DEMO_NDCS.items():
        drug = Drug.objects.filter(name=name).first()
        if drug is None or drug.ndcs.exists():
            continue
        inverse = per_unit.removeprefix("per ")
        DrugNdc.objects.create(
            drug=drug, ndc=ndc, unit=unit,
            units_per_billing_unit=None if inverse != per_unit else Decimal(per_unit),
            billing_units_per_ndc_unit=Decimal(inverse) if inverse != per_unit else None,
            package_description=f"demo package (not a real product): {package}", preferred=True,
        )  # fmt: skip
        added += 1
    return added


# Administrative sex of the demo patients (HL7 table 0001): these are F, the others M.
_DEMO_SEX = {"1001": "F", "1003": "F", "1005": "F"}


@dataclass(frozen=True)
class _Person:
    mrn: str
    name: str  # "Given Family"
    born: str  # ISO date
    allergies: str


def _patient(mrn: str, name: str, born: str, allergies: str = "") -> _Person:
    return _Person(f"{DEMO_MRN_PREFIX}{mrn}", name, born, allergies)


def demo_adt_a04(*, person: _Person, unit: str, label: str, arrived: datetime, account: str) -> str:
    """The ADT^A04 a hospital's registration system would send for this visit."""
    given, _, family = person.name.rpartition(" ")
    sex = _DEMO_SEX.get(person.mrn.removeprefix(DEMO_MRN_PREFIX), "M")
    segments = [
        f"MSH|^~\\&|DEMO_ADT|DEMO_HOSPITAL|INFUSION_MAR|INF|{arrived:%Y%m%d%H%M%z}||"
        f"ADT^A04^ADT_A01|{account}|P|2.5.1",
        f"EVN|A04|{arrived:%Y%m%d%H%M%z}",
        f"PID|1||{person.mrn}^^^DEMO_HOSPITAL^MR||{family}^{given}||"
        f"{person.born.replace('-', '')}|{sex}",
    ]
    if person.allergies:
        segments.append(f"AL1|1|DA|^{person.allergies}")
    pv1 = ["PV1", "1", "O", f"{unit}^^{label}"] + [""] * 41
    pv1[7] = "1234567893^Okafor^Amara^^^Dr."
    pv1[19] = account
    pv1[44] = f"{arrived:%Y%m%d%H%M%z}"
    segments.append("|".join(pv1))
    return "\r".join(segments)


def _encounter(person: _Person, unit: str, label: str, arrived: datetime, nurse: User) -> Encounter:
    """Registered through the HL7 path, as the hospital's interface engine would: the ADT^A04
    goes through the listener's own entry point (mar.hl7.inbound.message_receive)."""
    account = f"{person.mrn}-{arrived:%Y%m%d%H%M}"
    ack = message_receive(
        demo_adt_a04(
            person=person, unit=unit, label=label, arrived=arrived, account=account
        ).encode(),
        peer="demo",
    )
    if "MSA|AA|" not in ack:
        raise RuntimeError(f"the demo's ADT^A04 was refused: {ack}")
    encounter = Encounter.objects.get(account_number=account)
    encounter.nurse = nurse
    encounter.save(update_fields=["nurse"])
    return encounter


def demo_day_exists(*, now: datetime) -> bool:
    today = timezone.localdate(now)
    return Encounter.objects.filter(
        patient__mrn__startswith=DEMO_MRN_PREFIX, created_at__date=today
    ).exists()


def demo_day_create(
    *, now: datetime, nurse: User, pharmacist: User | None = None
) -> list[Encounter]:
    """Create today's demo encounters (unsigned, charting done) and return them. `pharmacist`
    verified the orders of the infusion center's chairs, except the untagged drug's; the ED's
    were given first (the pharmacist's list shows them signed before verification).

    Signing happens afterwards, outside this transaction, so each signature's charge task finds
    its record committed.
    """
    now = now.replace(second=0, microsecond=0)
    t0 = now - timedelta(hours=6)

    def at(minutes: int) -> datetime:
        return t0 + timedelta(minutes=minutes)

    # Not in the starter formulary: ordering it adds it untagged, for the pharmacist's worklist.
    Drug.objects.get_or_create(name="teprotumumab", defaults={"synonyms": "Tepezza"})
    created: list[Encounter] = []
    with transaction.atomic():
        # Chair 1: paclitaxel with a pause after dexamethasone and diphenhydramine pushes.
        enc = _encounter(
            _patient("1001", "Maria Lopez", "1961-04-12", "sulfa"),
            INFUSION_CENTER,
            "1",
            at(0),
            nurse,
        )
        c = _Chart(enc, nurse, pharmacist)
        s1 = c.site(AccessSite.Kind.PERIPHERAL_IV, "left forearm", at(5))
        dex = c.order("dexamethasone", "20 mg", "C50.911", route="iv")
        dph = c.order("diphenhydramine", "50 mg", "C50.911", route="iv")
        pac = c.order("paclitaxel", "175 mg/m2", "C50.911", route="iv", duration_minutes=180)
        push = Administration.Method.PUSH
        c.give(dex, s1, at(10), at(12), push, dose_value=Decimal(20), dose_unit="mg")
        c.flush(s1, at(13))
        c.give(dph, s1, at(15), at(17), push, dose_value=Decimal(50), dose_unit="mg")
        c.flush(s1, at(18))
        # 300 mg given; nothing wasted, but paclitaxel comes in multi-dose vials: no JZ.
        waste = {"waste_value": Decimal(0), "waste_unit": "mg"}
        infusion = c.give(
            pac, s1, at(25), at(215), dose_value=Decimal(300), dose_unit="mg", **waste
        )
        Pause.objects.create(administration=infusion, start=at(85), end=at(95))
        c.flush(s1, at(216))
        created.append(enc)

        # Chair 2: hydration alone, running now.
        arrived = now - timedelta(minutes=55)
        enc = _encounter(
            _patient("1002", "James Carter", "1948-09-30"), INFUSION_CENTER, "2", arrived, nurse
        )
        c = _Chart(enc, nurse, pharmacist)
        s1 = c.site(AccessSite.Kind.PERIPHERAL_IV, "right hand", now - timedelta(minutes=50))
        ns = c.order("sodium chloride 0.9%", "1000 mL", "E86.0", route="iv", purpose="hydration")
        c.give(ns, s1, now - timedelta(minutes=45), None, purpose=Administration.Purpose.HYDRATION)
        created.append(enc)

        # Chair 3: a two-site protocol: cisplatin on the port, hydration and antiemetic on a PIV.
        enc = _encounter(
            _patient("1003", "Linh Nguyen", "1970-01-22", "penicillin"),
            INFUSION_CENTER,
            "3",
            at(30),
            nurse,
        )
        c = _Chart(enc, nurse, pharmacist)
        piv = c.site(AccessSite.Kind.PERIPHERAL_IV, "left forearm", at(35))
        port = c.site(
            AccessSite.Kind.PORT, "right chest", at(35), reason="vesicant requires dedicated line"
        )
        ns = c.order("sodium chloride 0.9%", "1000 mL", "E86.0", route="iv", purpose="hydration")
        ond = c.order("ondansetron", "8 mg", "R11.2", route="iv")
        cis = c.order("cisplatin", "75 mg/m2", "C34.90", route="iv", duration_minutes=60)
        c.give(
            ns, piv, at(40), at(100), purpose=Administration.Purpose.HYDRATION,
            dose_value=Decimal(1000), dose_unit="mL",
        )  # fmt: skip
        c.give(
            ond, piv, at(105), at(107), Administration.Method.PUSH,
            dose_value=Decimal(8), dose_unit="mg",
        )  # fmt: skip
        c.flush(piv, at(108))
        c.give(cis, port, at(115), at(220), dose_value=Decimal(130), dose_unit="mg")
        c.flush(port, at(221))
        created.append(enc)

        # Chair 4: teprotumumab, a drug no pharmacist has tagged yet (DOC-4).
        enc = _encounter(
            _patient("1004", "Robert Greene", "1955-06-03"), INFUSION_CENTER, "4", at(60), nurse
        )
        c = _Chart(enc, nurse)  # an untagged drug: verified once tagged
        s1 = c.site(AccessSite.Kind.PICC, "right upper arm", at(62))
        tep = c.order("teprotumumab", "10 mg/kg", "E05.00", route="iv", duration_minutes=60)
        c.give(tep, s1, at(70), at(135), dose_value=Decimal(700), dose_unit="mg")
        c.flush(s1, at(136))
        created.append(enc)

        # Chair 5: carboplatin on a port, running now; an antiemetic ordered, not given yet.
        enc = _encounter(
            _patient("1005", "Aisha Rahman", "1966-11-15", "latex"),
            INFUSION_CENTER,
            "5",
            now - timedelta(minutes=60),
            nurse,
        )
        c = _Chart(enc, nurse, pharmacist)
        port = c.site(AccessSite.Kind.PORT, "left chest", now - timedelta(minutes=55))
        carbo = c.order("carboplatin", "AUC 5", "C56.9", route="iv", duration_minutes=60)
        c.give(carbo, port, now - timedelta(minutes=35), None)
        # Entered since: to give after the carboplatin, on the pharmacist's list to verify.
        c.order("ondansetron", "8 mg", "R11.2", route="iv", verify=False)
        created.append(enc)

        # ED bed 4: ondansetron pushes (the second 45 minutes later) and a diphenhydramine push.
        enc = _encounter(
            _patient("1006", "Kevin O'Brien", "1989-02-08"), ED, "ED 4", at(120), nurse
        )
        c = _Chart(enc, nurse)  # given first, verified after
        s1 = c.site(AccessSite.Kind.PERIPHERAL_IV, "right antecubital", at(125))
        ond = c.order("ondansetron", "4 mg", "R11.2", route="iv")
        dph = c.order("diphenhydramine", "25 mg", "T78.40XA", route="iv")
        given = {"dose_unit": "mg"}
        c.give(ond, s1, at(130), None, Administration.Method.PUSH, dose_value=Decimal(4), **given)
        c.flush(s1, at(131))
        # The second and third pushes given in a hurry: the diphenhydramine without any scan, the
        # ondansetron with the wristband only (the pharmacist's scan-compliance report).
        c.give(
            dph, s1, at(140), None, Administration.Method.PUSH, scans=(),
            dose_value=Decimal(25), **given,
        )  # fmt: skip
        c.give(
            ond, s1, at(185), None, Administration.Method.PUSH, scans=("wristband",),
            dose_value=Decimal(4), **given,
        )  # fmt: skip
        created.append(enc)

        # Chair 6: bevacizumab and oxaliplatin, both from single-dose vials: 350 mg of
        # bevacizumab drawn from four 100 mg vials, 50 mg wasted (a JW line); oxaliplatin 150 mg
        # from a 100 mg and a 50 mg vial, nothing wasted (JZ).
        enc = _encounter(
            _patient("1007", "Daniel Kim", "1958-07-19"), INFUSION_CENTER, "6", at(20), nurse
        )
        c = _Chart(enc, nurse, pharmacist)
        port = c.site(AccessSite.Kind.PORT, "right chest", at(25))
        bev = c.order("bevacizumab", "5 mg/kg", "C18.9", route="iv", duration_minutes=90)
        oxa = c.order("oxaliplatin", "85 mg/m2", "C18.9", route="iv", duration_minutes=120)
        mg = {"dose_unit": "mg", "waste_unit": "mg"}
        c.give(bev, port, at(30), at(122), dose_value=Decimal(350), waste_value=Decimal(50), **mg)
        c.flush(port, at(123))
        c.give(oxa, port, at(125), at(247), dose_value=Decimal(150), waste_value=Decimal(0), **mg)
        c.flush(port, at(248))
        created.append(enc)
    return created


SIGNED_LABELS = {"1", "3", "4", "6", "ED 4"}


def demo_day_sign(*, encounters: list[Encounter], nurse: User) -> list[Encounter]:
    """Sign the finished encounters; each signature enqueues its charge generation."""
    signed = []
    for encounter in encounters:
        if encounter.location_label in SIGNED_LABELS:
            signed.append(signature_store(encounter=encounter, user=nurse))
    return signed
