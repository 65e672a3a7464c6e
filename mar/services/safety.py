"""The checks before an order is started at the bedside, and the start that passes them.

Before them, under the encounter's lock: a start from a chart drawn before the ordering system
changed the order (HL7 ORC-1 XO, its `revision` past the one the start form carries) is refused
(`OrderChanged`), saying when it changed and what it is now. An order a pharmacist returned to
the prescriber (`Order.is_returned`, read under that lock) does not start at all (`RETURNED_STOP`,
beside the start; no override: the nurse calls pharmacy) until the ordering system changes it or
a pharmacist verifies it (or withdraws the return: the order is then one not verified yet).
Then in this order, each stopping the start with a message for its own field:

1. a drug barcode scanned for it must match it, or its stop have been overridden with a reason
   (mar/services/scanning.py); the scan's NDC, lot and expiry go onto the administration;
2. a high-alert order (chemotherapy, or a drug the formulary marks high-alert) must have been
   verified by a pharmacist, unless the nurse gives an emergency reason (`SafetyOverride`
   "unverified", listed for the pharmacist);
3. an allergy of the patient that names the drug or one of its formulary allergy classes (or a
   drug of one: "amoxicillin", a penicillin), or a class cross-reacting with one, needs an
   override reason (`SafetyOverride` "allergy", or "cross_sensitivity" when the warning is a
   cross-sensitivity only: `allergy_override_kind`);
4. a chemotherapy needs an independent double check: a second nurse, signing in with her own
   credentials on the same device, confirms patient, drug, dose, rate and route; both nurses are
   recorded on the administration.

No check requires a scan: a start with no wristband and no drug scanned goes ahead (there is no
facility setting that refuses it). What the start had is recorded with the administration
(`patient_scan`: the wristband scan that had confirmed the patient on this chart; `drug_scan`: the
scan that started it), so its card says "Started without scanning" and the scan-compliance report
(mar/scan_compliance.py) counts it.

The start itself is charting's `administration_start`, in the same transaction.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from mar import dosing
from mar.models import (
    AccessSite,
    Administration,
    BarcodeScan,
    Drug,
    DrugClass,
    Order,
    Patient,
    SafetyOverride,
    allergies_none_known,
)
from mar.roles import NURSE, user_is
from mar.services import charting
from mar.services.charting import ChartError
from mar.services.measures import (
    Measures,
    encounter_measures,
    encounters_measures,
    order_carried_dose,
)
from mar.services.scanning import scan_usable_for

CHEMOTHERAPY = (DrugClass.CHEMO, DrugClass.CHEMO_HORMONAL)
# The pharmacist's decisions on an order, read again under the start's lock.
PHARMACY_DECISIONS = (
    "verified_by_id",
    "verified_at",
    "returned_by_id",
    "returned_at",
    "return_reason",
)


def is_chemotherapy(order: Order) -> bool:
    return order.drug_class in CHEMOTHERAPY


def is_high_alert(order: Order) -> bool:
    return is_chemotherapy(order) or order.drug.high_alert


def needs_verification(order: Order) -> bool:
    """A high-alert order not yet verified: it starts only with an emergency reason."""
    return is_high_alert(order) and order.verified_at is None and not order.is_returned


RETURNED_STOP = (
    "Returned by pharmacy: call pharmacy; it can start once the order is changed or verified."
)


CANCELLED_STOP = "Cancelled as entered in error since this chart was drawn: it is not given"


def returned_stop(order: Order) -> str | None:
    """Why this order does not start while a pharmacist's return stands (None: it may)."""
    return RETURNED_STOP if order.is_returned else None


def _either(words: list[str]) -> str:
    """ "creatinine or weight", "height, weight or creatinine"."""
    return " or ".join([", ".join(words[:-1]), words[-1]]) if len(words) > 1 else words[0]


def order_dose_needs(order: Order) -> dosing.DoseNeeds | None:
    """What the order's dose needs to be checked: read from its text ("AUC 5", "10 mg/kg"),
    else from its structured basis (`dose_basis`, `dose_value`); None for a fixed dose."""
    written = ""
    if order.dose_basis and order.dose_value is not None:
        value = f"{order.dose_value.normalize():f}"
        per = "kg" if order.dose_basis == dosing.PER_KG else "m²"
        written = (
            f"AUC {value}"
            if order.dose_basis == dosing.AUC
            else f"{value} {order.dose_unit or 'mg'}/{per}"
        )
    return dosing.dose_needs(order.dose, basis=order.dose_basis, written=written)


def calculated_dose_note(order: Order, measures: Measures) -> str:
    """A warning, not a stop, at verification, in the Start box and at sign-off (for an order
    given: `chart_context.sign_dose_notes`): an order whose dose is
    calculated (per kg, per m², by AUC) on a visit without the measures it is calculated from
    ("Calculated dose (AUC 5): no creatinine or weight recorded on this visit to check it
    against."); "" for a fixed dose, or once they are recorded. The pharmacist and the nurse
    may have them from elsewhere, so nothing is refused (QA: carboplatin "AUC 5" verified,
    started and charted on a chart with no height, weight or creatinine, and nobody warned)."""
    needs = order_dose_needs(order)
    if needs is None:
        return ""
    visit, registration = measures.missing(needs.needs)
    if not visit and not registration:
        return ""
    parts = []
    if visit:
        parts.append(f"no {_either(visit)} recorded on this visit")
    if registration:
        parts.append(f"no {_either(registration)} on the registration")
    missing = parts[0] if len(parts) == 1 else f"{parts[0]}, and {parts[1]},"
    return f"Calculated dose ({dosing.dose_shown(needs.written)}): {missing} to check it against."


def calculated_dose_notes(
    orders: Iterable[Order], *, known: Mapping[int, Measures] | None = None
) -> dict[int, str]:
    """`calculated_dose_note` of each order by its pk ("" for none), for a list (the
    pharmacist's queue rows, the sign-off's orders given): the measures of every visit with a
    calculated dose read in one statement, none when no order's dose is calculated
    (`encounter__patient` loaded). `known`: visits' measures read already, by the encounter's
    pk (the chart's page), not read again."""
    listed = list(orders)
    calculated = [order for order in listed if order_dose_needs(order) is not None]
    known = known or {}
    by_visit = {
        **encounters_measures(
            order.encounter for order in calculated if order.encounter_id not in known
        ),
        **known,
    }
    notes = {order.pk: "" for order in listed}
    for order in calculated:
        notes[order.pk] = calculated_dose_note(order, by_visit[order.encounter_id])
    return notes


_SPLIT = re.compile(r"[;,\n]+")
_NOISE = re.compile(r"\(.*?\)|\b(allergy|allergic|to|rash|hives|anaphylaxis|nkda)\b", re.I)
# A term shorter than this names nothing reliably ("to", "iv") and is never matched: an allergy
# class must be written out at least this long (mar.pharmacy.services.drug_allergy_classes_set).
TERM_MIN = 4


def _parts(text: str) -> list[tuple[str, str]]:
    """(the part as written, its term): 'penicillin (rash); latex' ->
    [('penicillin (rash)', 'penicillin'), ('latex', 'latex')]; parts with no term are dropped."""
    found = []
    for part in _SPLIT.split(text or ""):
        if allergies_none_known(part):
            continue  # "none", "no known allergies": no drug named (their words would be read)
        term = " ".join(_NOISE.sub(" ", part).lower().split())
        if len(term) >= TERM_MIN:
            found.append((" ".join(part.split()), term))
    return found


def allergy_terms(text: str) -> list[str]:
    """The terms the matcher reads in `text` (an allergy list, a drug's allergy classes)."""
    return [term for _part, term in _parts(text)]


@dataclass(frozen=True)
class CrossSensitivity:
    """A pair of allergy classes with a known, low but real, cross-reactivity: a patient allergic
    to one is warned of when given a drug of the other (either way), in words apart from a direct
    match ("Cross-sensitivity: ..."). `note`: what is known, for the pharmacist's drug page."""

    one: str
    other: str
    note: str


# The cross-sensitivities the matcher warns of (mar/README.md, "Allergy warnings": the evidence).
# Kept small on purpose: a pair is here when the published evidence shows cross-reactivity, never
# for a shared chemical group alone (a sulfonamide antibiotic allergy is not one to a
# non-antibiotic sulfonamide: Strom et al., N Engl J Med 2003; it is not a pair here).
CROSS_SENSITIVITIES: tuple[CrossSensitivity, ...] = (
    CrossSensitivity(
        "penicillin",
        "cephalosporin",
        "about 2% in a confirmed penicillin allergy, more where the side chains are alike "
        "(aminocephalosporins); a shared beta-lactam ring",
    ),
    CrossSensitivity(
        "penicillin",
        "carbapenem",
        "under 1% in a confirmed penicillin allergy; a shared beta-lactam ring",
    ),
)
CROSS_PREFIX = "Cross-sensitivity: "


def _cross_classes() -> list[tuple[str, str]]:
    """(the class the patient is allergic to, the drug's class it cross-reacts with), both ways."""
    pairs = [(pair.one, pair.other) for pair in CROSS_SENSITIVITIES]
    return pairs + [(b, a) for a, b in pairs]


def _alike(one: str, other: str) -> bool:
    """The matcher's one comparison of two terms: either names the other ('platinum' ~
    'platinum compounds', 'penicillins' ~ 'penicillin')."""
    return one in other or other in one


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def cross_sensitivities_of(allergy_classes: str) -> list[tuple[CrossSensitivity, bool]]:
    """The cross-sensitivity table as the pharmacist's drug page shows it: each pair, and
    whether one of these allergy classes (a drug's) is in it (matched as the matcher does)."""
    classes = allergy_terms(allergy_classes)
    return [
        (pair, any(_alike(c, pair.one) or _alike(c, pair.other) for c in classes))
        for pair in CROSS_SENSITIVITIES
    ]


@dataclass(frozen=True)
class ClassStem:
    """A published name stem (USAN Council's approved stems, the INN's alike) that says a drug's
    allergy class: a word of an allergy beginning (`cef-`) or ending (`-cillin`) with it names a
    drug of that class, though the formulary does not hold it ("amoxicillin (hives)")."""

    stem: str  # as the stem list writes it: "-cillin" (a word's end), "cef-" (a word's start)
    allergy_class: str

    def names(self, word: str) -> bool:
        """`word` carries the stem where the stem list puts it, and three letters more at least,
        as every name of the class has ("cefalexin" yes, "ceiling" no, "cillin" alone no;
        "penicillins": a plural's 's' is allowed)."""
        bare = self.stem.strip("-")
        if len(word) < len(bare) + 3:
            return False
        if self.stem.endswith("-"):
            return word.startswith(bare)
        return word.endswith(bare) or word.endswith(bare + "s")


# The only stems read (mar/README.md, "Allergy warnings"): the three beta-lactam classes the
# cross-sensitivity table names, whose stems name nothing else. Kept to these on purpose: a stem
# read as a class is a guess from a name, defensible only where the stem means one class.
CLASS_STEMS: tuple[ClassStem, ...] = (
    ClassStem("-cillin", "penicillin"),
    ClassStem("cef-", "cephalosporin"),
    ClassStem("ceph-", "cephalosporin"),  # the older spelling: cephalexin, cephalothin
    ClassStem("-penem", "carbapenem"),
)
_WORD = re.compile(r"[a-z]+")

# Brand names of the beta-lactams of the three classes above (CLASS_STEMS, CROSS_SENSITIVITIES),
# each to its generic (established) name as the FDA label states it, the parts of a combination
# joined with '-' as the formulary writes them. Sources: the FDA Orange Book (Approved Drug
# Products with Therapeutic Equivalence Evaluations: proprietary name -> active ingredient,
# discontinued brands included, https://www.accessdata.fda.gov/scripts/cder/ob/) and each
# product's label on DailyMed (https://dailymed.nlm.nih.gov/). Read as a generic rule, never case
# by case: an allergy word that is one of these brands resolves to its generic, then the
# formulary's drugs and the stems give the class as they give the generic's (`allergy_carried`):
# "Keflex (rash)" is cephalexin, a cephalosporin by its stem ceph-. Kept to these classes on
# purpose (mar/README.md, "Allergy warnings"): a brand of another class resolves only through
# the formulary's synonyms, where the pharmacist gives its allergy classes.
BRAND_GENERICS: dict[str, str] = {
    # penicillins (-cillin)
    "amoxil": "amoxicillin",
    "augmentin": "amoxicillin-clavulanate",
    "bicillin": "penicillin g benzathine",
    "pfizerpen": "penicillin g potassium",
    "timentin": "ticarcillin-clavulanate",
    "unasyn": "ampicillin-sulbactam",
    "zosyn": "piperacillin-tazobactam",
    # cephalosporins (cef-, ceph-)
    "ancef": "cefazolin",
    "avycaz": "ceftazidime-avibactam",
    "ceftin": "cefuroxime axetil",
    "claforan": "cefotaxime",
    "duricef": "cefadroxil",
    "fetroja": "cefiderocol",
    "fortaz": "ceftazidime",
    "keflex": "cephalexin",
    "maxipime": "cefepime",
    "mefoxin": "cefoxitin",
    "omnicef": "cefdinir",
    "rocephin": "ceftriaxone",
    "suprax": "cefixime",
    "tazicef": "ceftazidime",
    "teflaro": "ceftaroline fosamil",
    "vantin": "cefpodoxime proxetil",
    "zerbaxa": "ceftolozane-tazobactam",
    "zinacef": "cefuroxime",
    # carbapenems (-penem)
    "doribax": "doripenem",
    "invanz": "ertapenem",
    "merrem": "meropenem",
    "primaxin": "imipenem-cilastatin",
    "recarbrio": "imipenem-cilastatin-relebactam",
    "vabomere": "meropenem-vaborbactam",
}


def brand_generics(term: str) -> list[str]:
    """The generics the brands among the term's words name (BRAND_GENERICS), each once:
    'keflex' -> ['cephalexin']; 'augmentin xr' -> ['amoxicillin-clavulanate']."""
    found: list[str] = []
    for word in _WORD.findall(term.lower()):
        generic = BRAND_GENERICS.get(word)
        if generic is not None and generic not in found:
            found.append(generic)
    return found


@dataclass(frozen=True)
class FormularyDrug:
    """A formulary drug as an allergy may name it: its name and synonyms as the matcher reads
    them (`allergy_terms`), and its allergy classes."""

    name: str
    terms: tuple[str, ...]
    classes: tuple[str, ...]


def formulary_drugs_read() -> tuple[FormularyDrug, ...]:
    """The formulary's drugs that carry allergy classes, by name and synonyms: one statement
    (retired drugs too: an allergy to one still says its class)."""
    return tuple(
        FormularyDrug(
            name,
            tuple(allergy_terms(name)) + tuple(allergy_terms(synonyms)),
            tuple(allergy_terms(classes)),
        )
        for name, synonyms, classes in Drug.objects.exclude(allergy_classes="")
        .order_by("name")
        .values_list("name", "synonyms", "allergy_classes")
    )


class AllergyNames:
    """The formulary as allergies name it (`formulary_drugs_read`), read once for a page or a
    service call however many orders it warns of, and only when an allergy needs it: a patient
    with no allergy term ("NKDA", none recorded) reads nothing."""

    def __init__(self, drugs: tuple[FormularyDrug, ...] | None = None) -> None:
        self._drugs = drugs

    def for_allergies(self, allergies: str) -> tuple[FormularyDrug, ...]:
        if not allergy_terms(allergies):
            return ()
        if self._drugs is None:
            self._drugs = formulary_drugs_read()
        return self._drugs


@dataclass(frozen=True)
class Carried:
    """A class an allergy carries though it names no class: the class of the formulary drug it
    names (`drug`: "Rocephin" names ceftriaxone), or of a stem its word carries (`stem`).
    `generic`: the allergy names a brand (BRAND_GENERICS) and the class came from its generic
    ("Keflex": cephalexin, by its stem ceph-)."""

    allergy_class: str
    drug: str = ""
    stem: str = ""
    generic: str = ""

    def said(self, term: str) -> str:
        brand = f"brand of {self.generic}, " if self.generic else ""
        if self.stem:
            return f"{brand}by its stem {self.stem}"
        if self.drug.lower() in (term, self.generic):
            return f"{brand}in the formulary"
        return f"{brand}as {self.drug} in the formulary"


def allergy_carried(term: str, formulary: tuple[FormularyDrug, ...] = ()) -> list[Carried]:
    """The classes an allergy term carries: those of each formulary drug it names (its name or a
    synonym, compared as the matcher compares: `_alike`), then a class stem's (CLASS_STEMS, on
    its words' starts and ends) not carried already. 'amoxicillin' -> penicillin (by the stem
    -cillin); 'Rocephin' -> cephalosporin, beta-lactam (as ceftriaxone in the formulary).

    A brand among its words (BRAND_GENERICS) is read as its generic too, by the same two rules
    (`generic` said): 'keflex' -> cephalosporin (brand of cephalexin, by its stem ceph-), with
    no formulary drug carrying the name."""
    carried: list[Carried] = []
    names = [(term, "")] + [(generic, generic) for generic in brand_generics(term)]
    for name_read, generic in names:
        for named in formulary:
            if any(_alike(name_read, name) for name in named.terms):
                carried += [
                    Carried(c, drug=named.name, generic=generic)
                    for c in named.classes
                    if not any(_alike(c, k.allergy_class) for k in carried)
                ]
    for name_read, generic in names:
        for word in _WORD.findall(name_read):
            for stem in CLASS_STEMS:
                if stem.names(word) and not any(
                    _alike(stem.allergy_class, k.allergy_class) for k in carried
                ):
                    carried.append(Carried(stem.allergy_class, stem=stem.stem, generic=generic))
    return carried


@dataclass(frozen=True)
class AllergyMatch:
    """One allergy of the patient that names the drug: `allergy` as recorded ('penicillin
    (rash)'), `term` what the matcher read in it ('penicillin'), and what of the drug it named:
    its name, a synonym (`synonym`) or one of its formulary allergy classes (`allergy_class`).

    A cross-sensitivity (`cross_from` set): the allergy names no class of the drug but a class
    that cross-reacts with one (CROSS_SENSITIVITIES): `cross_from` is that class as the table
    names it ('penicillin'), `allergy_class` the drug's ('cephalosporin').

    `carried`: the allergy names a drug, not a class, and the class came from it (a formulary
    drug's class, or a class stem's: `allergy_carried`); a direct match through it when the
    drug has that class ('amoxicillin' and piperacillin-tazobactam, both penicillins), a
    cross-sensitivity when the table pairs it with one of the drug's."""

    allergy: str
    term: str
    drug: str
    synonym: str = ""
    allergy_class: str = ""
    cross_from: str = ""
    carried: Carried | None = None

    @property
    def direct(self) -> bool:
        """A direct match (the drug, a synonym, its class), not a cross-sensitivity."""
        return not self.cross_from

    @property
    def said(self) -> str:
        """'penicillin (rash) matches piperacillin-tazobactam (penicillin class)'; a
        cross-sensitivity: 'patient allergic to penicillin class; ceftriaxone is a cephalosporin
        — low but real cross-reactivity' (the allergy as recorded after the class when it says
        more: 'penicillin class (recorded: penicillin (anaphylaxis))').

        Through the class a drug's name carries, saying how it was found: 'amoxicillin (hives)
        is a penicillin (by its stem -cillin), as is piperacillin-tazobactam (penicillin
        class)'; a cross-sensitivity: 'patient allergic to amoxicillin (hives), a penicillin (by
        its stem -cillin); cefazolin is a cephalosporin — low but real cross-reactivity'."""
        carried = self.carried
        if carried is not None:
            what = f"{_article(carried.allergy_class)} {carried.allergy_class}"
            how = carried.said(self.term)
            if self.cross_from:
                return (
                    f"patient allergic to {self.allergy}, {what} ({how}); {self.drug} is "
                    f"{_article(self.allergy_class)} {self.allergy_class} — low but real "
                    "cross-reactivity"
                )
            return (
                f"{self.allergy} is {what} ({how}), as is {self.drug} ({self.allergy_class} class)"
            )
        if self.cross_from:
            recorded = f" (recorded: {self.allergy})" if self.allergy.lower() != self.term else ""
            return (
                f"patient allergic to {self.cross_from} class{recorded}; {self.drug} is "
                f"{_article(self.allergy_class)} {self.allergy_class} — low but real "
                "cross-reactivity"
            )
        how = (
            f" ({self.allergy_class} class)"
            if self.allergy_class
            else f" (as {self.synonym})"
            if self.synonym
            else ""
        )
        return f"{self.allergy} matches {self.drug}{how}"


def _cross(allergic_to: list[str], classes: list[str]) -> tuple[str, str] | None:
    """The first pair of the table (either way) from one of `allergic_to` to one of the drug's
    `classes`: (the class as the table names it on the allergy's side, the drug's side)."""
    return next(
        (
            (one, other)
            for one, other in _cross_classes()
            if any(_alike(a, one) for a in allergic_to) and any(_alike(c, other) for c in classes)
        ),
        None,
    )


def allergy_conflicts(
    allergies: str, drug: Drug, formulary: tuple[FormularyDrug, ...] = ()
) -> list[AllergyMatch]:
    """The allergies in `allergies` (a patient's, as recorded) that name the drug (its name or a
    synonym) or one of its formulary allergy classes ("platinum" matches "platinum compounds"),
    then those that name a class cross-reacting with one of its classes (CROSS_SENSITIVITIES: a
    "penicillin" allergy and a cephalosporin), each allergy once, a direct match first.

    An allergy naming a drug rather than a class carries that drug's classes (`allergy_carried`:
    a drug of `formulary`, the formulary's drugs with allergy classes, `formulary_drugs_read`;
    or a class stem, "amoxicillin" a penicillin), matched as a class is: directly against the
    drug's classes, then through the table. Where a pair of the table relates the classes
    carried to the drug's, the table says how (a cross-sensitivity), not a broader class both
    have ("ceftriaxone" and piperacillin-tazobactam are both beta-lactams: a cross-sensitivity,
    not a direct match).
    The one matcher: the start's check, the chart, order entry and the pharmacist's queue and
    review all ask it. A pure function of its arguments."""
    names = [(term, "", "") for term in allergy_terms(drug.name)]
    names += [(term, part, "") for part, term in _parts(drug.synonyms)]
    classes = allergy_terms(drug.allergy_classes)
    names += [(term, "", term) for term in classes]
    found: list[AllergyMatch] = []
    crossed: list[AllergyMatch] = []
    for part, allergy in _parts(allergies):
        direct = next((n for n in names if _alike(allergy, n[0])), None)
        if direct is not None:
            name, synonym, allergy_class = direct
            found.append(AllergyMatch(part, allergy, drug.name, synonym, allergy_class))
            continue
        carried = allergy_carried(allergy, formulary)
        paired = _cross([k.allergy_class for k in carried], classes)
        shared = next(
            ((k, c) for k in carried for c in classes if _alike(k.allergy_class, c)),
            None,
        )
        if shared is not None and paired is None:
            found.append(
                AllergyMatch(part, allergy, drug.name, allergy_class=shared[1], carried=shared[0])
            )
            continue
        cross = _cross([allergy], classes)
        if cross is not None:
            crossed.append(
                AllergyMatch(part, allergy, drug.name, allergy_class=cross[1], cross_from=cross[0])
            )
        elif paired is not None:
            through = next(k for k in carried if _alike(k.allergy_class, paired[0]))
            crossed.append(
                AllergyMatch(
                    part,
                    allergy,
                    drug.name,
                    allergy_class=paired[1],
                    cross_from=paired[0],
                    carried=through,
                )
            )
    return found + crossed


def allergy_matches(patient: Patient, drug: Drug, names: AllergyNames | None = None) -> list[str]:
    """The patient's allergies that name the drug (its name or a synonym) or one of its
    formulary allergy classes ("platinum" matches "platinum compounds"), or a class that
    cross-reacts with one."""
    formulary = (names or AllergyNames()).for_allergies(patient.allergies)
    return [match.term for match in allergy_conflicts(patient.allergies, drug, formulary)]


def allergy_sentence(matches: list[AllergyMatch]) -> str:
    """'Allergy: penicillin (rash) matches piperacillin-tazobactam (penicillin class).', then
    the cross-sensitivities in their own words, 'Cross-sensitivity: patient allergic to
    penicillin class; ceftriaxone is a cephalosporin — low but real cross-reactivity.'; ''
    when none. A direct match always comes first (`allergy_cross_only`)."""
    direct = [match.said for match in matches if match.direct]
    cross = [match.said for match in matches if not match.direct]
    said = []
    if direct:
        said.append("Allergy: " + "; ".join(direct) + ".")
    if cross:
        said.append(CROSS_PREFIX + "; ".join(cross) + ".")
    return " ".join(said)


def allergy_warning(patient: Patient, drug: Drug, names: AllergyNames | None = None) -> str:
    """The warning every place says (`allergy_sentence`) of the patient's allergies and the
    drug, or '' when none names it. Direct or cross-sensitivity, it asks the same reason at
    order entry, at verification and at the start (mar/README.md, "Allergy warnings").
    `names`: the formulary as allergies name it, read once for a page of many orders (none
    given: read here, when the patient has an allergy term)."""
    formulary = (names or AllergyNames()).for_allergies(patient.allergies)
    return allergy_sentence(allergy_conflicts(patient.allergies, drug, formulary))


def allergy_cross_only(warning: str) -> bool:
    """The warning is a cross-sensitivity only (no direct match): said in the lower severity's
    colour and words ('despite the cross-sensitivity')."""
    return warning.startswith(CROSS_PREFIX)


# The kinds of an allergy override: a direct match, or a cross-sensitivity only.
ALLERGY_KINDS = (SafetyOverride.Kind.ALLERGY, SafetyOverride.Kind.CROSS_SENSITIVITY)


def allergy_override_kind(warning: str) -> str:
    """The kind an override of this allergy warning is kept as: "cross_sensitivity" when the
    warning is a cross-sensitivity only (`allergy_cross_only`), else "allergy" (a direct match,
    whatever cross-sensitivity it says besides). Order entry, verification and the start ask
    it, so the overrides report counts them apart."""
    if allergy_cross_only(warning):
        return SafetyOverride.Kind.CROSS_SENSITIVITY
    return SafetyOverride.Kind.ALLERGY


def allergy_overrides(order_ids: list[int]) -> dict[int, list[SafetyOverride]]:
    """The allergy overrides of these orders (ALLERGY_KINDS: a cross-sensitivity's too), oldest
    first, with who made them (one statement): at order entry (the clerk's), at verification
    (the pharmacist's) and at each start."""
    found: dict[int, list[SafetyOverride]] = {}
    if not order_ids:
        return found
    for override in (
        SafetyOverride.objects.filter(order_id__in=order_ids, kind__in=ALLERGY_KINDS)
        .select_related("by")
        .order_by("at", "pk")
    ):
        found.setdefault(override.order_id, []).append(override)  # type: ignore[arg-type]
    return found


def duplicate_words(override: SafetyOverride, repeated_pk: int | None) -> str:
    """What the order's row says of a duplicate confirmed at its entry (its SafetyOverride of
    kind "duplicate"): 'Second order beside O16, confirmed by clerk1 at 11:05'."""
    beside = f" beside O{repeated_pk}" if repeated_pk is not None else ""
    who = override.by.get_username()
    return f"Second order{beside}, confirmed by {who} at {timezone.localtime(override.at):%H:%M}"


def duplicated_words(override: SafetyOverride, later_pk: int) -> str:
    """What the first order's row says of a later order confirmed as its duplicate at entry:
    'O17 entered later as its duplicate, confirmed by clerk1 at 11:05'."""
    who = override.by.get_username()
    at = timezone.localtime(override.at)
    return f"O{later_pk} entered later as its duplicate, confirmed by {who} at {at:%H:%M}"


def duplicate_notes(orders: Iterable[Order]) -> dict[int, str]:
    """Each of these orders entered as a second order beside the same one (`duplicate_of`),
    confirmed at entry: what its row says (`duplicate_words`), one statement, none when no
    order of them is one."""
    return duplicate_notes_both(orders)[0]


def duplicate_notes_both(orders: Iterable[Order]) -> tuple[dict[int, str], dict[int, str]]:
    """`duplicate_notes`, and for each order of these a later one among them (not cancelled)
    was confirmed as the duplicate of: what the first order's row says (`duplicated_words`,
    several joined by "; "), from the same statement (none when no order of them is a
    second): the first order is named too, not only the second."""
    orders = list(orders)
    repeated = {order.pk: order.duplicate_of_id for order in orders if order.duplicate_of_id}
    if not repeated:
        return {}, {}
    cancelled = {order.pk for order in orders if order.cancelled_at is not None}
    confirmations = (
        SafetyOverride.objects.filter(order_id__in=repeated, kind=SafetyOverride.Kind.DUPLICATE)
        .select_related("by")
        .order_by("at", "pk")
    )
    second: dict[int, str] = {}
    first: dict[int, list[str]] = {}
    for o in confirmations:
        later = o.order_id
        assert later is not None
        second[later] = duplicate_words(o, repeated[later])
        if later not in cancelled:
            first.setdefault(repeated[later], []).append(duplicated_words(o, later))  # type: ignore[arg-type]
    return second, {pk: "; ".join(said) for pk, said in first.items()}


def with_duplicated_by(orders: QuerySet[Order]) -> QuerySet[Order]:
    """The orders with, in the same statement (subqueries), the earliest later order not
    cancelled confirmed at entry as a duplicate of each (`duplicated_by`: its pk, None when
    none; `duplicated_by_who`: who confirmed it, `duplicated_by_at`: when; the pharmacist's
    queue and review): the first order is named too, not only the second."""
    confirmed = SafetyOverride.objects.filter(
        kind=SafetyOverride.Kind.DUPLICATE,
        order__duplicate_of=OuterRef("pk"),
        order__cancelled_at__isnull=True,
    ).order_by("at", "pk")
    return orders.annotate(
        duplicated_by=Subquery(confirmed.values("order_id")[:1]),
        duplicated_by_who=Subquery(confirmed.values("by__username")[:1]),
        duplicated_by_at=Subquery(confirmed.values("at")[:1]),
    )


ENTRY_PREFIX = "At order entry: "
VERIFICATION_PREFIX = "At verification: "


def override_stage(override: SafetyOverride) -> str:
    """Where an allergy override was made: 'at order entry', 'at verification', 'at a start'
    (its message, as the service that recorded it wrote it)."""
    if override.message.startswith(ENTRY_PREFIX):
        return "at order entry"
    if override.message.startswith(VERIFICATION_PREFIX):
        return "at verification"
    return "at a start"


def order_run_text(order: Order) -> str:
    """How long or how fast the order runs, as ordered: 'over 60 min', 'at 125 mL/h', both
    ('over 60 min · at 125 mL/h'), or '' when the order gives neither (a push)."""
    parts = []
    if order.duration_minutes:
        parts.append(f"over {order.duration_minutes} min")
    if order.rate_value is not None:
        parts.append(f"at {order.rate_value.normalize():f} {order.rate_unit}".rstrip())
    return " · ".join(parts)


def order_now_text(order: Order) -> str:
    """The order as the chart's row says it: 'Ondansetron 4 mg · IV · over 15 min'."""
    parts = [
        f"{order.drug.name} {dosing.dose_shown(order.dose)}".strip(),
        str(order.get_route_display()),
    ]
    run = order_run_text(order)
    if run:
        parts.append(run)
    return " · ".join(parts)


class OrderChanged(ChartError):
    """A start from a chart drawn before the ordering system changed the order: nothing is
    started; the message says when it changed and what it is now. `order`: as it is now."""

    def __init__(self, order: Order) -> None:
        self.order = order
        at = (
            f" at {timezone.localtime(order.changed_at, order.encounter.zone):%H:%M}"
            if order.changed_at
            else ""
        )
        what = f" ({order.change_note})" if order.change_note else ""
        super().__init__(
            {
                None: [
                    f"This order was changed by the ordering system{at}: it is now "
                    f"{order_now_text(order)}{what}. Nothing was started: check it and start "
                    "again."
                ]
            }
        )


@dataclass
class StartChecks:
    """What the nurse gave with the start: a scan, reasons, the second nurse."""

    scan: BarcodeScan | None = None
    emergency_reason: str = ""
    allergy_reason: str = ""
    second_nurse: AbstractBaseUser | None = None
    double_check_confirmed: bool = False
    rate_ml_h: Decimal | None = None
    bag_volume_ml: Decimal | None = None
    vtbi_ml: Decimal | None = None
    errors: dict[str | None, list[str]] = field(default_factory=dict)


def start_problems(
    order: Order,
    checks: StartChecks,
    *,
    user: AbstractBaseUser,
    names: AllergyNames | None = None,
) -> dict[str | None, list[str]]:
    """What stops this start, keyed by the form field that resolves it (empty: none).
    `names`: the formulary as allergies name it, when the caller has it (`allergy_warning`)."""
    if (stop := returned_stop(order)) is not None:
        return {None: [stop]}  # no other check matters: pharmacy decides first
    errors: dict[str | None, list[str]] = {}
    if checks.scan is not None and not scan_usable_for(checks.scan, order):
        retired = checks.scan.result == BarcodeScan.Result.RETIRED
        errors.setdefault("scan", []).append(
            f"The scanned package of {order.drug.name} is retired (no longer stocked): scan a "
            "stocked package, or override the scan with a reason."
            if retired and checks.scan.order_id == order.pk
            else f"The scanned barcode does not match {order.drug.name}: scan it again, or "
            "override the scan with a reason."
        )
    if needs_verification(order) and not checks.emergency_reason.strip():
        errors.setdefault("emergency_reason", []).append(
            f"{order.drug.name} is high-alert and no pharmacist has verified the order: wait "
            "for verification, or give the emergency reason to start it now."
        )
    allergy = allergy_warning(order.encounter.patient, order.drug, names)
    if allergy and not checks.allergy_reason.strip():
        errors.setdefault("allergy_reason", []).append(
            f"{allergy} Give the reason to start it anyway."
        )
    if is_chemotherapy(order):
        second = checks.second_nurse
        if second is None:
            errors.setdefault("second_password", []).append(
                "Chemotherapy needs an independent double check: a second nurse signs in here."
            )
        elif second.pk == user.pk:
            errors.setdefault("second_username", []).append(
                "The double check must be by another nurse, not the one starting it."
            )
        elif not user_is(second, NURSE):
            errors.setdefault("second_username", []).append("The double check must be by a nurse.")
        elif not checks.double_check_confirmed:
            errors.setdefault("double_check_confirmed", []).append(
                "The second nurse confirms patient, drug, dose, rate and route."
            )
    return errors


@transaction.atomic
def administration_start_checked(
    *,
    order: Order,
    site: AccessSite | None,
    start: datetime,
    method: str,
    user: AbstractBaseUser,
    checks: StartChecks,
    now: datetime | None = None,
    request_key: str = "",
    order_revision: int | None = None,
) -> Administration:
    """Start the order after the checks above; records the overrides, the scan's package and
    the double check with the administration. Raises ChartError keyed by the form's fields.
    A second request with the same `request_key` (a double tap) returns the first's
    administration, nothing recorded again.

    `order_revision`: the order's `revision` the nurse's chart showed (the start form carries
    it; None counts as 0, the order as first entered). The ordering system changed the order
    since (HL7 ORC-1 XO): refused (OrderChanged), saying what it is now, so that nobody gives
    the old dose from a chart drawn before."""
    # The encounter locked first: a double tap's second request waits here, then finds the
    # first's administration (before the checks, which the first tap's scan would now fail).
    # The order is read again under the encounter's lock, which a change order takes too (with
    # the earlier tap's administration and the wristband scan, in one statement). A post without
    # the revision is taken as from a chart that showed the order as first entered (0): it
    # starts an order never changed, and is refused for one the ordering system changed.
    existing, current = charting.start_lock_read(order, request_key)
    if existing is not None:
        return existing
    if current.revision != (order_revision or 0):
        raise OrderChanged(current)
    if current.cancelled_at is not None:
        raise ChartError({None: [CANCELLED_STOP + (f" ({current.cancel_reason})")]})
    # The pharmacist's decisions as they are now: a return (which locks the encounter too) or a
    # verification made since the chart was drawn.
    for name in PHARMACY_DECISIONS:
        setattr(order, name, getattr(current, name))
    now = now or timezone.now()
    names = AllergyNames()  # the formulary read once for the check and the override kept
    errors = start_problems(order, checks, user=user, names=names)
    if errors:
        raise ChartError(errors)
    # A calculated dose (10 mg/kg) is carried over worked out, when the visit's measures allow
    # it and the dose check passes; else left for the nurse (the Start box's note says why).
    dose = (
        order_carried_dose(order, encounter_measures(order.encounter))
        if order_dose_needs(order) is not None
        else None
    )
    adm = charting.administration_start_locked(
        order=order,
        site=site,
        start=start,
        method=method,
        user=user,
        now=now,
        request_key=request_key,
        dose=dose,
    )
    encounter = order.encounter
    changed = []
    # What the start had of scanning, kept with it (BCMA compliance; a start without a scan is
    # allowed, and said on its card and in the scan-compliance report, never silent): the
    # wristband scan that confirmed the patient (`scanning.patient_confirmed`), read with the
    # order under the lock.
    patient_scan = current.wristband_scan  # type: ignore[attr-defined]
    if patient_scan is not None:
        adm.patient_scan_id = patient_scan
        changed.append("patient_scan")
    if checks.scan is not None:
        scan = BarcodeScan.objects.select_for_update().get(pk=checks.scan.pk)
        if scan.administration_id is not None:
            raise ChartError({"scan": ["This scan already started another administration."]})
        scan.administration = adm
        # A scan that matched more than one order goes with the one she started.
        scan.order_id = scan.order_id or order.pk
        scan.save(update_fields=["administration", "order"])
        adm.ndc, adm.lot, adm.expiry = scan.ndc, scan.lot, scan.expiry
        adm.drug_scan = scan
        changed += ["ndc", "lot", "expiry", "drug_scan"]
        scan.overrides.filter(administration__isnull=True).update(administration=adm)
    if checks.rate_ml_h is not None or checks.bag_volume_ml is not None or checks.vtbi_ml:
        adm.rate_ml_h, adm.bag_volume_ml, adm.vtbi_ml = (
            checks.rate_ml_h,
            checks.bag_volume_ml,
            checks.vtbi_ml,
        )
        changed += ["rate_ml_h", "bag_volume_ml", "vtbi_ml"]
    if needs_verification(order):
        SafetyOverride.objects.create(
            encounter=encounter,
            kind=SafetyOverride.Kind.UNVERIFIED,
            message=f"{order.drug.name} started before a pharmacist verified the order",
            reason=checks.emergency_reason.strip(),
            order=order,
            administration=adm,
            by=user,
        )
    allergy = allergy_warning(encounter.patient, order.drug, names)
    if allergy:
        SafetyOverride.objects.create(
            encounter=encounter,
            kind=allergy_override_kind(allergy),
            message=allergy[:300],
            reason=checks.allergy_reason.strip(),
            order=order,
            administration=adm,
            by=user,
        )
    if is_chemotherapy(order):
        adm.double_checked_by = checks.second_nurse
        adm.double_checked_at = now
        changed += ["double_checked_by", "double_checked_at"]
    if changed:
        adm.save(update_fields=changed)
    return adm
