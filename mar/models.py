"""The clinical record (patient, encounter, sites, orders, administrations) and the formulary.

These models describe data only. What is codable and what is missing is the engine's call
(coding/engine); the one bridge to it is mar/record.py.
"""

import re
from dataclasses import asdict, fields
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Coalesce, Greatest
from django.utils.timezone import now

from coding.engine.record import POLICY_CHOICES, POLICY_MAX_MINUTES, POLICY_MINUTES_MIN, Policy
from mar.validators import ndc_display, validate_ndc11, validate_npi


class DrugClass(models.TextChoices):
    CHEMO = "chemo", "Chemotherapy / highly complex"
    CHEMO_HORMONAL = "chemo_hormonal", "Hormonal antineoplastic"
    THERAPEUTIC = "therapeutic", "Therapeutic"
    HYDRATION = "hydration", "Hydration"


class Route(models.TextChoices):
    IV = "iv", "IV"
    SQ = "sq", "Subcutaneous"
    IM = "im", "Intramuscular"
    IA = "ia", "Intra-arterial"
    INTRALESIONAL = "intralesional", "Intralesional"
    INTRATHECAL = "intrathecal", "Intrathecal"
    INTRACAVITARY = "intracavitary", "Intracavitary"


class NoDrugLine(models.TextChoices):
    """Why a drug has no drug line of its own, by a pharmacist's decision (CMS: Medicare Claims
    Processing Manual, Pub. 100-04, ch. 4 section 10.4 and ch. 17 section 90.2; see
    mar/README.md "No drug line, by decision")."""

    PACKAGED = (
        "packaged",
        "Packaged: no separate drug line (OPPS packages its payment, status indicator N; its "
        "pharmacy charge goes under revenue code 0250 without a HCPCS code)",
    )
    NO_COST = "no_cost", "Supplied free or by the patient: not charged"


class Drug(models.Model):
    """One formulary entry. drug_class NULL means no pharmacist has tagged it yet (DOC-4)."""

    class Container(models.TextChoices):
        """How the drug is supplied, per its FDA label: only single-dose containers take the
        JW/JZ waste modifiers (coding/drug_lines.py). Blank: the formulary does not say."""

        SINGLE_DOSE = "single_dose", "Single-dose container"
        MULTI_DOSE = "multi_dose", "Multi-dose container"

    name = models.CharField(max_length=200, unique=True)
    synonyms = models.CharField(max_length=500, blank=True, help_text="Separated by ';'")
    # NULL (untagged) is a state of its own, distinct from any class: the worklist selects on it.
    drug_class = models.CharField(  # noqa: DJ001
        max_length=20, choices=DrugClass.choices, null=True, blank=True
    )
    hcpcs_code = models.CharField(max_length=10, blank=True)
    billing_unit_amount = models.DecimalField(
        max_digits=12, decimal_places=4, null=True, blank=True, help_text="e.g. 50 for '50 mg'"
    )
    billing_unit = models.CharField(max_length=20, blank=True, help_text="e.g. mg, mcg, units")
    container = models.CharField(
        max_length=20,
        choices=Container.choices,
        blank=True,
        default="",
        help_text="As labelled; JW/JZ apply to single-dose containers only. Blank: not stated",
    )
    class_note = models.TextField(blank=True, help_text="Evidence for the class")
    # Safety (issue 17): a high-alert drug (ISMP list; every chemotherapy is one) cannot be
    # started before a pharmacist verified its order, except with an emergency reason.
    high_alert = models.BooleanField(
        default=False,
        db_default=False,
        help_text="ISMP high-alert (chemotherapy is always high-alert)",
    )
    allergy_classes = models.CharField(
        max_length=300,
        blank=True,
        db_default="",
        help_text="Allergy classes the drug belongs to, separated by ';' (e.g. platinum compounds)",
    )
    # The formulary's maximum single dose (an amount, for a fixed dose), kept by the pharmacist:
    # an order above it is warned of at entry and flagged to the pharmacist (DOSE-MAX,
    # mar/services/dose_check.py). Blank: none kept.
    max_dose_amount = models.DecimalField(
        max_digits=12, decimal_places=4, null=True, blank=True, help_text="e.g. 16 for '16 mg'"
    )
    max_dose_unit = models.CharField(max_length=20, blank=True, default="", db_default="")
    # The maximum single dose by body size, kept by the pharmacist beside (or instead of) the
    # fixed one: per kg of body weight ("15 mg/kg") and per m² of body surface area (Mosteller);
    # an order's fixed dose is compared with it × the weight (or BSA) recorded for the visit
    # (DOSE-MAX, mar/services/dose_check.py). Blank: none kept.
    max_dose_per_kg_amount = models.DecimalField(
        max_digits=12, decimal_places=4, null=True, blank=True, help_text="e.g. 15 for '15 mg/kg'"
    )
    max_dose_per_kg_unit = models.CharField(max_length=20, blank=True, default="", db_default="")
    max_dose_per_m2_amount = models.DecimalField(
        max_digits=12, decimal_places=4, null=True, blank=True, help_text="e.g. 2 for '2 mg/m²'"
    )
    max_dose_per_m2_unit = models.CharField(max_length=20, blank=True, default="", db_default="")
    class_tagged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    class_tagged_at = models.DateTimeField(null=True, blank=True)
    # False: retired from the formulary (mar.pharmacy.services.drug_retire), a drug the hospital
    # no longer stocks or uses: refused for a new order (order entry, HL7, FHIR), not suggested.
    # Kept, not deleted: the orders already written of it are still started, charted and billed.
    active = models.BooleanField(default=True, db_default=True)
    # The retirement in force (cleared when reactivated; each change is in the audit trail).
    retired_at = models.DateTimeField(null=True, blank=True)
    retired_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    retired_reason = models.TextField(blank=True)
    # A pharmacist's decision that the drug has no drug line of its own, on purpose (the drug
    # lines cannot bill it: no HCPCS code or no billing unit). Blank: none. It leaves the
    # worklist's "Not billable" list for "No drug line, by decision", and CLAIM-HCPCS and the
    # coder's worklist badge are not raised for it; the charges are as without it (no drug
    # line). Cleared when undone; who, when and why stay in the audit trail.
    no_drug_line = models.CharField(
        max_length=20, choices=NoDrugLine.choices, blank=True, default="", db_default=""
    )
    no_drug_line_note = models.TextField(blank=True, default="", db_default="")
    no_drug_line_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    no_drug_line_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def billing_unit_label(self) -> str:
        if self.billing_unit_amount is None:
            return ""
        return f"{self.billing_unit_amount.normalize():f} {self.billing_unit}".strip()


# Said beside the two fields when both are typed (the form, the service, the constraint).
NDC_ONE_RELATION = (
    "Give either the NDC units per billing unit or the billing units per NDC unit, not both."
)


class DrugNdc(models.Model):
    """A National Drug Code the pharmacy stocks for a drug (a drug can have several packages).

    Stored as 11 digits (5-4-2), the form an 837I's LIN/N4 carries, with the NDC unit of measure
    and how many of those units one billing unit of the drug's HCPCS is, so a drug line's NDC
    quantity can be computed from the units billed."""

    class Unit(models.TextChoices):
        # The 837I N4 / CTP-05 unit qualifiers.
        UN = "UN", "UN (unit: vial, tablet, each)"
        ML = "ML", "ML (milliliter)"
        GR = "GR", "GR (gram)"
        ME = "ME", "ME (milligram)"
        F2 = "F2", "F2 (international unit)"

    drug = models.ForeignKey(Drug, on_delete=models.PROTECT, related_name="ndcs")
    ndc = models.CharField("NDC", max_length=11, validators=[validate_ndc11], help_text="11 digits")
    package_description = models.CharField(max_length=200, blank=True)
    unit = models.CharField(max_length=2, choices=Unit.choices, default=Unit.UN)
    # How the package's NDC unit relates to the HCPCS billing unit, stated either way round so
    # that it is stored exactly (at most one of the two; both blank: 1). A concentration that
    # is not a terminating decimal one way is exact the other: paclitaxel 6 mg/mL billed per
    # 1 mg is 6 billing units per ML (1/6 ML per billing unit would be stored 0.1667, and 300 mg
    # would read 50.01 ML). The claim's NDC quantity is computed from the one in force
    # (coding/claim.py `ndc_quantity`).
    units_per_billing_unit = models.DecimalField(
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="NDC units in one billing unit of the HCPCS (e.g. 2 ML per 1 mg); blank: 1",
    )
    billing_units_per_ndc_unit = models.DecimalField(
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="Billing units of the HCPCS in one NDC unit (e.g. 6 per 1 ML of a 6 mg/mL "
        "package billed per 1 mg); instead of NDC units per billing unit, when that one is not "
        "a terminating decimal",
    )
    preferred = models.BooleanField(
        default=False, help_text="The NDC a drug line carries when the administration names none"
    )
    # False: retired, a package no longer stocked (mar.pharmacy.services.drug_ndc_retire). Kept,
    # not deleted: a scan of it says it is retired, and the administrations given from it
    # still bill it (coding/claim.py `ndc_choice`).
    active = models.BooleanField(default=True)
    # The retirement in force (cleared when reactivated; each change is in the audit trail).
    retired_at = models.DateTimeField(null=True, blank=True)
    retired_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    retired_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["drug", "-preferred", "ndc"]
        verbose_name = "drug NDC"
        verbose_name_plural = "drug NDCs"
        constraints = [
            models.UniqueConstraint(fields=["drug", "ndc"], name="mar_drug_ndc_unique"),
            models.UniqueConstraint(
                fields=["drug"], condition=Q(preferred=True), name="mar_drug_one_preferred_ndc"
            ),
            # A drug line without a scanned NDC carries the preferred one: never a package no
            # longer stocked.
            models.CheckConstraint(
                condition=Q(active=True) | Q(preferred=False),
                name="mar_drug_ndc_retired_not_preferred",
                violation_error_message="A retired NDC cannot be the preferred one.",
            ),
            # The package's relation to the billing unit is stated one way round, never both
            # (two numbers could disagree: which would the claim carry?).
            models.CheckConstraint(
                condition=Q(units_per_billing_unit__isnull=True)
                | Q(billing_units_per_ndc_unit__isnull=True),
                name="mar_drug_ndc_one_relation",
                violation_error_message=NDC_ONE_RELATION,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.drug.name} NDC {ndc_display(self.ndc)}"

    @property
    def ndc_display(self) -> str:
        return ndc_display(self.ndc)

    @property
    def units_per_billing_unit_text(self) -> str:
        """'0.5' for 0.5000, '10' for 10.0000; '1' when blank (the default)."""
        if self.units_per_billing_unit is None:
            return "1"
        return _decimal_text(self.units_per_billing_unit)

    @property
    def billing_units_per_ndc_unit_text(self) -> str:
        """'6' for 6.0000; '' when blank (NDC units per billing unit is the one in force)."""
        if self.billing_units_per_ndc_unit is None:
            return ""
        return _decimal_text(self.billing_units_per_ndc_unit)

    @property
    def ndc_units_per_billing_unit_exact(self) -> Fraction:
        """NDC units in one billing unit, exactly: 1/6 for 6 billing units per NDC unit, 0.5 for
        0.5 NDC units per billing unit, 1 when both are blank."""
        if self.billing_units_per_ndc_unit is not None:
            return 1 / Fraction(self.billing_units_per_ndc_unit)
        return Fraction(self.units_per_billing_unit or 1)

    @property
    def per_billing_unit_text(self) -> str:
        """NDC units per billing unit as the pharmacy's list of packages says it: '0.5', or,
        stated the other way round, '1/6 (6 billing units per ML)'."""
        if self.billing_units_per_ndc_unit is not None:
            inverse = self.billing_units_per_ndc_unit_text
            return f"1/{inverse} ({inverse} billing units per {self.unit})"
        return self.units_per_billing_unit_text


def _decimal_text(value: Decimal) -> str:
    """'0.5' for 0.5000, '10' for 10.0000."""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


# What every screen says of a patient whose allergies are blank (`Patient.allergies_said`).
ALLERGIES_NOT_RECORDED = "not recorded"
# What every screen says of a patient recorded with none known, whichever way it was typed
# (registration's help asks for "NKDA"; HL7 AL1 and the admin write what they write), in a
# neutral style, not as an allergy (QA: "Allergies: NKDA" was red bold like a real one).
NO_KNOWN_DRUG_ALLERGIES = "No known drug allergies"
NO_KNOWN_ALLERGIES = "No known allergies"
_NONE_KNOWN = {
    "nkda": NO_KNOWN_DRUG_ALLERGIES,
    "no known drug allergies": NO_KNOWN_DRUG_ALLERGIES,
    "none": NO_KNOWN_DRUG_ALLERGIES,
    "none known": NO_KNOWN_DRUG_ALLERGIES,
    "nka": NO_KNOWN_ALLERGIES,
    "no known allergies": NO_KNOWN_ALLERGIES,
}


def allergies_none_known(text: str) -> str:
    """What `text` says when it is, as a whole, a statement that no allergies are known ("NKDA",
    "nka", "None.", "no known allergies", in any case): "No known drug allergies" or "No known
    allergies"; "" for anything else ("NKDA; latex" names an allergy)."""
    words = " ".join((text or "").lower().split()).rstrip(".").strip()
    return _NONE_KNOWN.get(words, "")


class Patient(models.Model):
    class Sex(models.TextChoices):
        """Administrative sex, HL7 table 0001 codes (FHIR gender: female/male/other/unknown)."""

        FEMALE = "F", "Female"
        MALE = "M", "Male"
        OTHER = "O", "Other"
        UNKNOWN = "U", "Unknown"

    name = models.CharField(max_length=200)
    mrn = models.CharField("MRN", max_length=40, unique=True)
    birth_date = models.DateField(null=True, blank=True)
    # Blank: not recorded (patients registered before the field existed).
    sex = models.CharField(max_length=1, choices=Sex.choices, blank=True)
    # Free text, as registration, HL7 AL1 segments (ADT^A04/A08) or the Django admin wrote it
    # ("penicillin (hives); latex"; "NKDA" when the clerk was told none are known, as the form's
    # help asks). Blank: nothing recorded, which says nothing of whether the patient has any (a
    # FHIR import fills no allergies): every screen says so in the same words, `allergies_said`.
    allergies = models.TextField(blank=True)
    # For FHIR's _lastUpdated (coding/fhir/).
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.mrn})"

    class AllergiesState(models.TextChoices):
        """What the allergies say, for how a screen shows them (`allergies_state`)."""

        RECORDED = "recorded", "Allergies recorded"
        NONE_KNOWN = "none_known", "None known"
        NOT_RECORDED = "not_recorded", "Not recorded"

    @property
    def allergies_said(self) -> str:
        """The allergies as every screen says them (the chart, registration, order entry, the
        pharmacist's review): as recorded, "No known drug allergies" when that is what was
        recorded ("NKDA", "none": `allergies_none_known`), or "not recorded" (QA: the chart
        said "none recorded" and the order form "not recorded" of the same patient). None known
        is only what was recorded as such: never made up from a blank."""
        if not self.allergies:
            return ALLERGIES_NOT_RECORDED
        return allergies_none_known(self.allergies) or self.allergies

    @property
    def allergies_state(self) -> str:
        """Recorded (an allergy: red and bold on every screen), none known (neutral) or not
        recorded (greyed): `{{ patient|allergies_class }}` (mar/templatetags/allergy.py)."""
        if not self.allergies:
            return self.AllergiesState.NOT_RECORDED
        if allergies_none_known(self.allergies):
            return self.AllergiesState.NONE_KNOWN
        return self.AllergiesState.RECORDED


class Payer(models.Model):
    """Who pays for an encounter; its coding policy (PayerPolicy, versioned) chooses how the
    engine codes the encounters it pays for (coding-rules §7: where published sources disagree).
    An encounter with no payer is coded with the defaults of the rules."""

    class FinancialClass(models.TextChoices):
        MEDICARE = "medicare", "Medicare"
        MEDICARE_ADVANTAGE = "medicare_advantage", "Medicare Advantage"
        MEDICAID = "medicaid", "Medicaid"
        COMMERCIAL = "commercial", "Commercial"
        WORKERS_COMP = "workers_comp", "Workers' compensation"
        TRICARE = "tricare", "TRICARE / VA"
        SELF_PAY = "self_pay", "Self-pay"
        OTHER = "other", "Other"

    name = models.CharField(max_length=200, unique=True)
    financial_class = models.CharField(max_length=20, choices=FinancialClass.choices)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def current_policy(self) -> "PayerPolicy | None":
        return self.policies.order_by("-version").first()


def policy_defaults() -> dict[str, Any]:
    """Every key of the engine's policy with the rules' default (coding.engine.record.Policy)."""
    return asdict(Policy())


def policy_clean(values: object) -> dict[str, Any]:
    """Every key of the engine's policy, each an allowed value: missing keys take the default,
    an unknown key or a value the engine does not take is refused (ValidationError per key)."""
    if not isinstance(values, dict):
        raise ValidationError("A policy is a mapping of the engine's policy keys")
    known = {f.name for f in fields(Policy)}
    errors: dict[str, str] = {}
    for key in sorted(set(values) - known):
        errors[key] = "is not a policy key this engine knows"
    cleaned = policy_defaults()
    for key in known & set(values):
        value = values[key]
        if key in POLICY_CHOICES:
            if value not in POLICY_CHOICES[key]:
                allowed = ", ".join(str(c) for c in POLICY_CHOICES[key])
                errors[key] = f"must be one of {allowed}"
                continue
        elif (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not POLICY_MINUTES_MIN.get(key, 1) <= value <= POLICY_MAX_MINUTES
        ):
            least = POLICY_MINUTES_MIN.get(key, 1)
            errors[key] = f"must be a whole number from {least} to {POLICY_MAX_MINUTES}"
            continue
        cleaned[key] = value
    if errors:
        raise ValidationError({k: [v] for k, v in errors.items()})
    return cleaned


class PayerPolicy(models.Model):
    """One version of a payer's coding policy: every key of the engine's Policy, who set it,
    when and why. Versions are never edited: a change is a new version (coding/payers.py), and
    each charge run records the version it was coded with."""

    payer = models.ForeignKey(Payer, on_delete=models.PROTECT, related_name="policies")
    version = models.PositiveIntegerField()
    values = models.JSONField(default=policy_defaults, help_text="Every key of the engine's policy")
    reason = models.TextField()
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["payer", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["payer", "version"], name="mar_payer_policy_version")
        ]

    def __str__(self) -> str:
        return f"{self.payer.name} policy v{self.version}"

    def clean(self) -> None:
        self.values = policy_clean(self.values)

    def as_engine_policy(self) -> dict[str, Any]:
        """The `policy` object of the infusion-record/1 document (every key)."""
        return policy_clean(self.values)


class Encounter(models.Model):
    class Setting(models.TextChoices):
        FACILITY = "facility", "Facility (hospital outpatient / ED / observation)"
        OFFICE = "office", "Physician office (POS 11)"

    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress", "In progress"
        SIGNED = "signed", "Signed"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="encounters")
    unit = models.CharField(max_length=100, help_text="Infusion center, ED, ...")
    location_label = models.CharField("chair / bed", max_length=40, blank=True)
    attending = models.CharField("attending physician", max_length=200, blank=True)
    setting = models.CharField(max_length=10, choices=Setting.choices, default=Setting.FACILITY)
    arrived_at = models.DateTimeField(null=True, blank=True)
    observation_at = models.DateTimeField(null=True, blank=True)
    # From the registration system (HL7 ADT^A03); the engine does not read it.
    discharged_at = models.DateTimeField(null=True, blank=True)
    # Charted in another EHR and imported through the FHIR API (coding/fhir/): the integration's
    # name. Such a record is coded here but read-only: no charting, no addendum.
    imported_from = models.CharField(max_length=100, blank=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    sequence_of_day = models.PositiveSmallIntegerField(
        default=1, help_text="2 or more when the patient left and came back the same day"
    )
    timezone = models.CharField(max_length=64, default="America/New_York", help_text="IANA zone")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.IN_PROGRESS)
    nurse = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="encounters_nursed",
    )
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="encounters_signed",
    )
    signed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)
    payer = models.ForeignKey(
        Payer,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="encounters",
        help_text="Chooses the coding policy; none: the rules' defaults",
    )
    account_number = models.CharField(
        max_length=40, blank=True, help_text="Patient account / visit number billing uses"
    )

    class Meta:
        ordering = ["unit", "location_label", "pk"]
        indexes = [
            models.Index(fields=["status", "arrived_at"]),
            # The units visits were in, read an index step a unit (registration.units_known).
            models.Index(fields=["unit"], name="mar_encounter_unit_idx"),
        ]

    def __str__(self) -> str:
        return f"Encounter {self.pk} · {self.patient.name}"

    @property
    def is_signed(self) -> bool:
        return self.status == self.Status.SIGNED

    @property
    def in_emergency_department(self) -> bool:
        """The visit's unit is an emergency department, as units are named ("ED", "Emergency
        Department", "Peds ER"): the record says so (`encounter.emergency_department`), and
        RAC-8 advises marking an EMS start there only. The unit is typed free (registration,
        HL7 PV1-3), so this reads its words."""
        words = set(re.findall(r"[a-z]+", self.unit.casefold()))
        return bool(words & {"ed", "er", "emergency"})

    @property
    def zone(self) -> ZoneInfo:
        """The encounter's own zone; UTC when its name is not a zone (the engine reports that
        on the checklist as a record error)."""
        try:
            return ZoneInfo(self.timezone)
        except Exception:  # noqa: BLE001 - ZoneInfoNotFoundError, ValueError, TypeError
            return ZoneInfo("UTC")


class AccessSite(models.Model):
    class Kind(models.TextChoices):
        PERIPHERAL_IV = "peripheral_iv", "Peripheral IV"
        PICC = "picc", "PICC"
        PORT = "port", "Port"
        CENTRAL_LINE = "central_line", "Central line"
        MIDLINE = "midline", "Midline"
        SUBCUTANEOUS = "subcutaneous", "Subcutaneous"
        INTRAMUSCULAR = "intramuscular", "Intramuscular"
        INTRA_ARTERIAL = "intra_arterial", "Intra-arterial"
        OTHER = "other", "Other"

    encounter = models.ForeignKey(Encounter, on_delete=models.PROTECT, related_name="sites")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    location = models.CharField(max_length=100, blank=True)
    placed_at = models.DateTimeField(null=True, blank=True)
    assessed_at = models.DateTimeField(null=True, blank=True)
    discontinued_at = models.DateTimeField(null=True, blank=True)
    separate_site_reason = models.TextField(
        blank=True, help_text="Why a second vascular site was medically necessary"
    )
    # As nurses chart a line (issue 17): "peripheral catheter" 20G, "Huber needle" 20G 3/4".
    device = models.CharField(
        max_length=100, blank=True, db_default="", help_text='e.g. Huber needle 3/4"'
    )
    gauge = models.CharField(max_length=10, blank=True, db_default="", help_text="e.g. 20G")
    attempts = models.PositiveSmallIntegerField(null=True, blank=True)
    blood_return = models.CharField(
        max_length=10,
        blank=True,
        db_default="",
        choices=[("yes", "Blood return present"), ("no", "No blood return")],
        help_text="A port or central line: checked on access",
    )

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.location}".strip()


class DoseBasis(models.TextChoices):
    """What an ordered dose value is per ("" = a fixed amount: 8 mg)."""

    PER_M2 = "per_m2", "per m² body surface area"
    PER_KG = "per_kg", "per kg body weight"
    AUC = "auc", "target AUC (mg/mL·min)"


class EntryMethod(models.TextChoices):
    ELECTRONIC = "electronic", "Electronic (prescriber or interface)"
    WRITTEN = "written", "Written order, transcribed"
    VERBAL = "verbal", "Verbal order, read back"
    TELEPHONE = "telephone", "Telephone order, read back"


class Order(models.Model):
    class Purpose(models.TextChoices):
        HYDRATION = "hydration", "Hydration"

    class Disposition(models.TextChoices):
        NOT_GIVEN = "not_given", "Not given"
        HELD = "held", "Held"
        REFUSED = "refused", "Refused"

    encounter = models.ForeignKey(Encounter, on_delete=models.PROTECT, related_name="orders")
    drug = models.ForeignKey(Drug, on_delete=models.PROTECT, related_name="orders")
    dose = models.CharField(max_length=100, blank=True, help_text="'per protocol' is a dose")
    route = models.CharField(max_length=20, choices=Route.choices, default=Route.IV)
    indication = models.CharField(max_length=200, blank=True, help_text="Diagnosis or reason")
    purpose = models.CharField(max_length=20, choices=Purpose.choices, blank=True)
    ordering_provider = models.CharField(max_length=200, blank=True)
    ordering_provider_npi = models.CharField(
        "ordering provider NPI",
        max_length=10,
        blank=True,
        validators=[validate_npi],
        help_text="10 digits; the last is the check digit",
    )
    duration_minutes = models.PositiveIntegerField(null=True, blank=True)
    # The dose as ordered, structured (order entry, HL7 RXE, FHIR); `dose` above is its text.
    # With a basis the value is per m² of body surface, per kg, or the target AUC (carboplatin,
    # Calvert): the pharmacist works out the amount from height, weight or renal function.
    dose_value = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    dose_unit = models.CharField(max_length=20, blank=True, help_text="mg, g, units, mL...")
    dose_basis = models.CharField(max_length=10, choices=DoseBasis.choices, blank=True)
    rate_value = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    rate_unit = models.CharField(max_length=20, blank=True, help_text="mL/h, mg/h, ...")
    indication_code = models.CharField("ICD-10-CM", max_length=10, blank=True)
    # Who typed the order in, and how it came: from the interface or the prescriber's own
    # entry (electronic), or transcribed by a nurse or clerk from a written or verbal order on
    # behalf of the prescriber. Every order needs a pharmacist's verification however it came.
    entry_method = models.CharField(max_length=10, choices=EntryMethod.choices, blank=True)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    entered_on_behalf_of = models.CharField(max_length=200, blank=True)
    # With a dose basis: the amount the prescriber worked out (in dose_unit), which the
    # pharmacist's verification compares with the amount calculated from today's measures.
    prescribed_amount = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    # NULL: the drug's own class applies. Set by a pharmacist when the family depends on the
    # indication (leuprolide for cancer vs IVF).
    class_override = models.CharField(  # noqa: DJ001
        max_length=20, choices=DrugClass.choices, null=True, blank=True
    )
    class_override_reason = models.TextField(blank=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="orders_verified",
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    # Returned by a pharmacist to the prescriber, with the reason (dose over the maximum for the
    # body surface, a wrong route, an interaction): not to start until the ordering system
    # changes it (which clears the return) or a pharmacist verifies it after all (which decides)
    # or withdraws the return (back to verify, not verified; pharmacy.services).
    returned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="orders_returned",
    )
    returned_at = models.DateTimeField(null=True, blank=True)
    return_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=now)
    # An order not given: the nurse documents why (the engine's DOC-6 asks for it on every order
    # with no administration). Blank: not documented (given, or still to give).
    disposition = models.CharField(max_length=10, choices=Disposition.choices, blank=True)
    disposition_reason = models.TextField(blank=True)
    disposition_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    disposition_at = models.DateTimeField(null=True, blank=True)
    # Cancelled as entered in error (the wrong drug, dose or patient typed) by the ordering desk
    # or pharmacy before anything was charted on it (mar/registration/cancelling.py
    # `order_cancel`): no longer an order to give, verify or account for (not in the engine's
    # record: DOC-6 does not ask for it); kept, struck through, with who, when and why.
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.TextField(blank=True)
    # The ordering system's number for the order (HL7 ORC-2, placer order number): an order sent
    # again under it is not entered twice, and a cancel (ORC-1 CA/DC) names the order by it.
    placer_number = models.CharField(max_length=50, blank=True)
    # The order entry form's own key (one per form drawn, registration's order_new): the same
    # form posted twice (a double press, sent again after signing in, the back button) enters
    # one order. Blank for an order from an interface (its placer number does that).
    entry_key = models.CharField(max_length=64, blank=True, default="", editable=False)
    # Changed by the ordering system (HL7 ORC-1 XO) before it was given: how many times (the
    # chart's start form carries it, so that a start from a chart drawn before a change is
    # refused), when last, and what changed then ("dose 8 mg → 4 mg"), shown on the order's row.
    revision = models.PositiveIntegerField(default=0)
    changed_at = models.DateTimeField(null=True, blank=True)
    change_note = models.CharField(max_length=500, blank=True)
    # Entered by a person as a second order beside the same one open on the visit (drug, dose,
    # route: registration's order_duplicate), confirmed when warned: the order it repeats. Who
    # confirmed it and when: its SafetyOverride of kind "duplicate". Null for any other order.
    duplicate_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["encounter", "placer_number"],
                condition=~Q(placer_number=""),
                name="mar_order_placer_number_once_a_visit",
            ),
            models.UniqueConstraint(
                fields=["encounter", "entry_key"],
                condition=~Q(entry_key=""),
                name="mar_order_one_per_entry_form",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.drug.name} {self.dose}".strip()

    @property
    def drug_class(self) -> str | None:
        return self.class_override or self.drug.drug_class

    @property
    def is_cancelled(self) -> bool:
        """Cancelled as entered in error (`cancelled_at`): struck through, nothing to do."""
        return self.cancelled_at is not None

    @property
    def is_returned(self) -> bool:
        """Returned by pharmacy and not verified since: the pharmacist's verification is the
        decision (on a signed record the return stays on the row beside it, the guard letting
        only the verification through)."""
        return self.returned_at is not None and self.verified_at is None


# What a nurse charts on an administration's card (the rest comes from the order): the fields
# the charting services change, the card form shows, and a finding on one of them links to.
ADMINISTRATION_CARD_FIELDS = (
    "start",
    "stop",
    "method",
    "site",
    "bag",
    "purpose",
    "started_by",
    "pump",
    "planned_hours",
    "dose_value",
    "dose_unit",
    "waste_value",
    "waste_unit",
)


def _scan_link() -> "models.ForeignKey[BarcodeScan | None, BarcodeScan | None]":
    """A start's link to the scan it had (set by the charting service, never in a form)."""
    return models.ForeignKey(
        "BarcodeScan",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )


class Administration(models.Model):
    class Method(models.TextChoices):
        INFUSION = "infusion", "Infusion"
        PUSH = "push", "Push"
        INJECTION = "injection", "Injection"

    class Purpose(models.TextChoices):
        HYDRATION = "hydration", "Hydration"
        VEHICLE = "vehicle", "Vehicle"
        KVO = "kvo", "Keep vein open"

    class StartedBy(models.TextChoices):
        FACILITY = "facility", "Facility"
        EMS = "ems", "EMS (before arrival)"

    class Pump(models.TextChoices):
        PORTABLE = "portable", "Portable"
        IMPLANTED = "implanted", "Implanted"

    encounter = models.ForeignKey(
        Encounter, on_delete=models.PROTECT, related_name="administrations"
    )
    order = models.ForeignKey(
        Order, null=True, blank=True, on_delete=models.PROTECT, related_name="administrations"
    )
    # Carried over from the order when started from one; kept here because an administration
    # without an order (a documentation gap) still names what was given.
    drug = models.ForeignKey(Drug, on_delete=models.PROTECT, related_name="administrations")
    site = models.ForeignKey(
        AccessSite,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="administrations",
    )
    route = models.CharField(max_length=20, choices=Route.choices, default=Route.IV)
    method = models.CharField(max_length=20, choices=Method.choices, default=Method.INFUSION)
    start = models.DateTimeField()
    stop = models.DateTimeField(null=True, blank=True)
    bag = models.CharField(max_length=40, blank=True, help_text="Same bag id = mixed together")
    purpose = models.CharField(max_length=20, choices=Purpose.choices, blank=True)
    started_by = models.CharField(
        max_length=10, choices=StartedBy.choices, default=StartedBy.FACILITY
    )
    lesions = models.PositiveSmallIntegerField(null=True, blank=True)
    pump = models.CharField(max_length=10, choices=Pump.choices, blank=True)
    planned_hours = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    primary = models.BooleanField(default=False, help_text="Office: primary reason for the visit")
    dose_value = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    dose_unit = models.CharField(max_length=20, blank=True)
    # Single-use vial waste for the JW/JZ modifiers: NULL = not charted, 0 = none wasted (JZ).
    waste_value = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    waste_unit = models.CharField(max_length=20, blank=True)
    # Barcode scanning (issue 17): the package given, as scanned or typed.
    ndc = models.CharField("NDC", max_length=11, blank=True, db_default="", help_text="11 digits")
    lot = models.CharField(max_length=20, blank=True, db_default="")
    expiry = models.DateField(null=True, blank=True)
    # Rates and volumes: the rate it was started at (changes are RateChange rows), the bag,
    # the volume to be infused, and what the pump says was infused when stopped.
    rate_ml_h = models.DecimalField(
        "rate (mL/h)", max_digits=8, decimal_places=2, null=True, blank=True
    )
    bag_volume_ml = models.DecimalField(
        "bag volume (mL)", max_digits=8, decimal_places=2, null=True, blank=True
    )
    vtbi_ml = models.DecimalField(
        "volume to be infused (mL)", max_digits=8, decimal_places=2, null=True, blank=True
    )
    volume_infused_ml = models.DecimalField(
        "volume infused (mL)", max_digits=8, decimal_places=2, null=True, blank=True
    )
    # Chemotherapy: the second nurse's independent double check before the start.
    double_checked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    double_checked_at = models.DateTimeField(null=True, blank=True)
    # Optimistic locking: a save must name the version it edited (two nurses, one record).
    version = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)
    # The Start tap that created it (a key the form carries): a double tap or a resent request
    # finds this administration instead of starting a second one.
    request_key = models.CharField(max_length=64, blank=True, default="", editable=False)
    # When it was charted (the Start tap, or the import): `start` may be typed earlier (a late
    # entry). NULL: charted before this was recorded (migration 0024).
    charted_at = models.DateTimeField(null=True, blank=True, editable=False)
    # What the start had of barcode scanning (BCMA), recorded with it (mar/services/safety.py):
    # the wristband scan that had confirmed the patient on this chart, and the drug scan that
    # started it (matched, or its stop overridden with a reason). NULL: not scanned. The
    # scan-compliance report and the card's "Started without scanning" read them.
    patient_scan = _scan_link()
    drug_scan = _scan_link()

    class Meta:
        ordering = ["start", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["encounter", "request_key"],
                condition=~models.Q(request_key=""),
                name="administration_one_per_start_tap",
            )
        ]

    def __str__(self) -> str:
        return f"{self.drug.name} {self.get_method_display().lower()}"

    @property
    def is_running(self) -> bool:
        return self.stop is None and self.method == self.Method.INFUSION

    @property
    def ndc_display(self) -> str:
        """The NDC as the formulary shows it (5-4-2)."""
        return ndc_display(self.ndc)

    @property
    def bedside_start(self) -> bool:
        """Started by a nurse on this chart, its scans recorded with the start: not imported
        (no nurse started it here), not charted by addendum after the signature, not charted
        before starts recorded their scans."""
        if self.charted_at is None or self.created_by_id is None:
            return False
        signed_at = self.encounter.signed_at
        return signed_at is None or self.charted_at <= signed_at

    @property
    def start_before_check(self) -> tuple[str, datetime] | None:
        """Late entry that reads wrong: the start charted before the drug's scan or its double
        check for it (QA: a chemotherapy start typed at 07:00, scanned and double-checked at
        08:32). Allowed, and said on the card ("Started 07:00, before its scan at 08:32"): the
        first of them after the start, to the minute, as ("scan" or "double check", when). Read
        with `drug_scan` joined (mar/chart_reads.py)."""

        def minute(moment: datetime) -> datetime:
            return moment.replace(second=0, microsecond=0)

        checks = []
        if self.drug_scan_id is not None and self.drug_scan is not None:
            checks.append(("scan", self.drug_scan.at))
        if self.double_checked_at is not None:
            checks.append(("double check", self.double_checked_at))
        later = [(at, what) for what, at in checks if minute(self.start) < minute(at)]
        if not later:
            return None
        at, what = min(later)
        return what, at

    @property
    def not_scanned_at_start(self) -> tuple[str, ...]:
        """What a bedside start went without: "wristband", "drug" (empty: both scanned, or not
        a bedside start). The card says it ("Started without scanning")."""
        if not self.bedside_start:
            return ()
        missing = []
        if self.patient_scan_id is None:
            missing.append("wristband")
        if self.drug_scan_id is None:
            missing.append("drug")
        return tuple(missing)


class Pause(models.Model):
    class Reason(models.TextChoices):
        REACTION = "reaction", "Reaction"
        PATIENT_REQUEST = "patient_request", "Patient request"
        PUMP_ALARM = "pump_alarm", "Pump alarm"
        LINE_PROBLEM = "line_problem", "Line problem"
        OTHER = "other", "Other"

    administration = models.ForeignKey(
        Administration, on_delete=models.PROTECT, related_name="pauses"
    )
    start = models.DateTimeField()
    end = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=20, choices=Reason.choices, blank=True, db_default="")

    class Meta:
        ordering = ["start", "pk"]

    def __str__(self) -> str:
        return f"pause {self.start:%H:%M}"


class Flush(models.Model):
    encounter = models.ForeignKey(Encounter, on_delete=models.PROTECT, related_name="flushes")
    site = models.ForeignKey(AccessSite, on_delete=models.PROTECT, related_name="flushes")
    at = models.DateTimeField()
    solution = models.CharField(
        max_length=60, blank=True, db_default="", help_text="e.g. NS, heparin 100 units/mL"
    )
    volume_ml = models.DecimalField(max_digits=6, decimal_places=1, null=True, blank=True)

    class Meta:
        ordering = ["at", "pk"]
        verbose_name_plural = "flushes"

    def __str__(self) -> str:
        return f"flush {self.at:%H:%M}"


class Addendum(models.Model):
    """A change to a signed record: what changed, why, who, when."""

    encounter = models.ForeignKey(Encounter, on_delete=models.PROTECT, related_name="addenda")
    what = models.TextField()
    why = models.TextField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["at", "pk"]
        verbose_name_plural = "addenda"

    def __str__(self) -> str:
        return f"addendum {self.at:%Y-%m-%d %H:%M}"


class DrugClassChange(models.Model):
    """A pharmacist's class decision: who, when, from, to, and why.

    With `order` empty it changed the drug's class in the formulary (from_class NULL: the first
    tagging of an untagged drug); with `order` set it overrode the class on that one order
    (to_class NULL: the override was removed). The ids of the encounters whose charges were
    regenerated, and of the exported runs that were only flagged, are kept for the audit.
    """

    drug = models.ForeignKey(Drug, on_delete=models.PROTECT, related_name="class_changes")
    order = models.ForeignKey(
        Order, null=True, blank=True, on_delete=models.PROTECT, related_name="class_changes"
    )
    from_class = models.CharField(  # noqa: DJ001
        max_length=20, choices=DrugClass.choices, null=True, blank=True
    )
    to_class = models.CharField(  # noqa: DJ001
        max_length=20, choices=DrugClass.choices, null=True, blank=True
    )
    reason = models.TextField()
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=now)
    regenerated_encounters = models.JSONField(default=list, blank=True)
    flagged_runs = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.drug.name}: {self.from_class or 'untagged'} -> {self.to_class or 'none'}"


class FindingAcknowledgement(models.Model):
    """A nurse's reason for signing despite an error finding of the checklist
    (mar/services/charting.py).

    A finding is matched by (rule, administrations, field, message): the engine's findings carry
    no id, and two findings of one rule can name the same field (two flushes in the future are
    two visit-level DOC-3 errors): each is acknowledged with its own reason.
    """

    encounter = models.ForeignKey(
        Encounter, on_delete=models.PROTECT, related_name="acknowledgements"
    )
    rule = models.CharField(max_length=40)
    administrations = models.CharField(max_length=200, blank=True, help_text="e.g. 'A12,A13'")
    field = models.CharField(max_length=100, blank=True)
    message = models.TextField(help_text="The finding as the nurse saw it")
    reason = models.TextField()
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.rule} {self.administrations}: {self.reason[:40]}"


# --- the MAR a nurse expects (issue 17): measures, rates, scans, overrides, site condition -----


class PatientMeasure(models.Model):
    """Height, weight or serum creatinine charted on an encounter, with when and how."""

    class Kind(models.TextChoices):
        HEIGHT = "height_cm", "Height (cm)"
        WEIGHT = "weight_kg", "Weight (kg)"
        CREATININE = "creatinine_mg_dl", "Serum creatinine (mg/dL)"

    class Method(models.TextChoices):
        MEASURED = "measured", "Measured"
        STATED = "stated", "Stated by patient"
        BED_SCALE = "bed_scale", "Bed / chair scale"
        LAB = "lab", "Laboratory result"

    encounter = models.ForeignKey(Encounter, on_delete=models.PROTECT, related_name="measures")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    value = models.DecimalField(max_digits=7, decimal_places=2)
    measured_at = models.DateTimeField()
    method = models.CharField(max_length=20, choices=Method.choices)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["measured_at", "pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.value.normalize():f}"


class RateChange(models.Model):
    """A titration or rate change of a running infusion: the new rate from `at` on."""

    administration = models.ForeignKey(
        Administration, on_delete=models.PROTECT, related_name="rate_changes"
    )
    at = models.DateTimeField()
    rate_ml_h = models.DecimalField("new rate (mL/h)", max_digits=8, decimal_places=2)
    reason = models.CharField(max_length=200)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=now)
    # Corrected by addendum after the record was signed (`rates.rate_change_update`, in the
    # addendum's transaction): when, and by whom, the last such correction was saved. The card
    # marks the row with them ("corrected by addendum"), so what a nurse or an auditor reads
    # there tells a corrected row from an original one. A row corrected before the signature is
    # the original record: no mark, as a row removed before it leaves no trace on the card.
    amended_at = models.DateTimeField(null=True, blank=True)
    amended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.rate_ml_h.normalize():f} mL/h at {self.at:%H:%M}"


def rate_amended_times() -> models.Expression:
    """How many times a rate change was corrected by addendum after the signature, as a read's
    annotation (`amended_times`: no read more per row): its distinct `amended_at` in the audit
    trail's events of the row (audit's RateChangeEvent, which copies the mark since audit 0039;
    each correction after the signature sets it to its addendum's time), at least 1 for a row
    marked (a trail without the events: the SQLite demo's, or a correction before audit 0039),
    0 for a row never so corrected (the events are not read then)."""
    events = apps.get_model("audit", "RateChangeEvent")
    counted = (
        events.objects.filter(pgh_obj_id=models.OuterRef("pk"), amended_at__isnull=False)
        .order_by()
        .values("pgh_obj_id")
        .annotate(n=models.Count("amended_at", distinct=True))
        .values("n")[:1]
    )
    return models.Case(
        models.When(amended_at__isnull=True, then=models.Value(0)),
        default=Greatest(Coalesce(models.Subquery(counted), 0), 1),
        output_field=models.IntegerField(),
    )


def rate_amended_times_said(times: int) -> str:
    """ "" for a row corrected once (or never), "twice", "3 times": the mark's words
    (mar/_rate_row_amended.jinja, `timeline.rate_amended_words`)."""
    return "" if times < 2 else "twice" if times == 2 else f"{times} times"


class SiteAssessment(models.Model):
    """The condition of a site at one assessment: the INS infiltration and phlebitis scales
    (0 none .. 4 severe)."""

    GRADES = [(n, str(n)) for n in range(5)]

    site = models.ForeignKey(AccessSite, on_delete=models.PROTECT, related_name="assessments")
    at = models.DateTimeField()
    infiltration = models.PositiveSmallIntegerField(choices=GRADES, default=0)
    phlebitis = models.PositiveSmallIntegerField(choices=GRADES, default=0)
    blood_return = models.CharField(
        max_length=10, blank=True, choices=[("yes", "Present"), ("no", "Absent")]
    )
    note = models.CharField(max_length=200, blank=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"S{self.site_id} {self.at:%H:%M} infiltration {self.infiltration}"


class ChartedInError(models.Model):
    """An administration removed from the record because it was charted in error (a double tap,
    the wrong patient's drug, a duplicate): what it was, why, who, when. The administration's row
    itself stays in the audit trail (mar/audit); on a signed record an addendum says the same."""

    encounter = models.ForeignKey(
        Encounter, on_delete=models.PROTECT, related_name="charted_in_error"
    )
    administration_ref = models.CharField(max_length=20)  # "A<pk>": the row is gone
    what = models.CharField(max_length=300)
    reason = models.CharField(max_length=500)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["at", "pk"]
        verbose_name_plural = "administrations charted in error"

    def __str__(self) -> str:
        return f"{self.administration_ref} charted in error at {self.at:%Y-%m-%d %H:%M}"


class BarcodeScan(models.Model):
    """One scan at the bedside (wristband or drug) and what it matched (services/scanning.py)."""

    class Kind(models.TextChoices):
        PATIENT = "patient", "Wristband"
        DRUG = "drug", "Drug"

    class Result(models.TextChoices):
        MATCH = "match", "Match"
        WRONG_PATIENT = "wrong_patient", "Wrong patient"
        WRONG_DRUG = "wrong_drug", "Wrong drug"
        EXPIRED = "expired", "Expired lot"
        RETIRED = "retired", "Retired package"
        UNREADABLE = "unreadable", "Not a barcode this reader knows"

    encounter = models.ForeignKey(Encounter, on_delete=models.PROTECT, related_name="scans")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    raw = models.CharField(max_length=200)
    result = models.CharField(max_length=20, choices=Result.choices)
    message = models.CharField(max_length=300)
    order = models.ForeignKey(
        Order, null=True, blank=True, on_delete=models.PROTECT, related_name="scans"
    )
    drug = models.ForeignKey(
        Drug, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    ndc = models.CharField(max_length=11, blank=True)
    lot = models.CharField(max_length=20, blank=True)
    expiry = models.DateField(null=True, blank=True)
    administration = models.ForeignKey(
        Administration, null=True, blank=True, on_delete=models.PROTECT, related_name="scans"
    )
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} scan: {self.get_result_display()}"

    @property
    def ndc_display(self) -> str:
        """The NDC as the formulary shows it (5-4-2)."""
        return ndc_display(self.ndc)


class SafetyOverride(models.Model):
    """A nurse going past a stop, with her reason: a scan that did not match (wrong drug,
    expired lot, retired package), an allergy, the same order as one on the visit entered as a
    second order (at order entry, by whoever entered it), or starting a high-alert order before
    the pharmacist verified it (emergency). Reported per nurse and unit; the emergency starts are
    listed for the pharmacist. A wrong patient's wristband is no longer overridable (a hard
    stop): the kind stays for the overrides recorded before.

    An allergy warning that is a cross-sensitivity only (no direct match: a penicillin allergy
    and a cephalosporin, mar/services/safety.py CROSS_SENSITIVITIES) is kept as its own kind,
    "Cross-sensitivity" (`safety.allergy_override_kind`); a warning with a direct match is
    "Allergy", whatever cross-sensitivity it says besides. Recorded at order entry, at
    verification and at a start alike."""

    class Kind(models.TextChoices):
        WRONG_PATIENT = "wrong_patient", "Wrong patient"
        WRONG_DRUG = "wrong_drug", "Wrong drug"
        EXPIRED = "expired", "Expired lot"
        RETIRED = "retired", "Retired package"
        ALLERGY = "allergy", "Allergy"
        CROSS_SENSITIVITY = "cross_sensitivity", "Cross-sensitivity"
        UNVERIFIED = "unverified", "Started before verification (emergency)"
        # The same order as one open on the visit, entered again as a second order when warned
        # (order entry): its order's `duplicate_of` is the one it repeats.
        DUPLICATE = "duplicate", "Duplicate order confirmed"
        # A dose/unit warning (mar/services/dose_check.py) confirmed by the person entering it.
        DOSE = "dose", "Dose or unit warning confirmed at order entry"

    encounter = models.ForeignKey(Encounter, on_delete=models.PROTECT, related_name="overrides")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    message = models.CharField(max_length=300, help_text="What the nurse was shown")
    reason = models.TextField()
    order = models.ForeignKey(
        Order, null=True, blank=True, on_delete=models.PROTECT, related_name="overrides"
    )
    scan = models.ForeignKey(
        BarcodeScan, null=True, blank=True, on_delete=models.PROTECT, related_name="overrides"
    )
    administration = models.ForeignKey(
        Administration, null=True, blank=True, on_delete=models.PROTECT, related_name="overrides"
    )
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.reason[:40]}"


class InterfaceMessage(models.Model):
    """The interface log: every HL7 message received (mar/hl7/), what became of it, and the ACK
    sent back."""

    class Outcome(models.TextChoices):
        RECEIVED = "received", "Received, being processed"
        ACCEPTED = "accepted", "Accepted (AA)"
        ERROR = "error", "Error (AE)"
        REJECTED = "rejected", "Rejected (AR)"

    # MSH-10, with the sender (MSH-3/MSH-4): a message is processed once per sender and id.
    # Blank for a message whose control id could not be read (garbage): never de-duplicated.
    control_id = models.CharField(max_length=199, blank=True)
    sender = models.CharField(max_length=200, blank=True, help_text="MSH-3^MSH-4")
    message_type = models.CharField(max_length=40, blank=True, help_text="MSH-9, e.g. ADT^A04")
    version = models.CharField(max_length=10, blank=True)
    peer = models.CharField(max_length=100, blank=True, help_text="Address the message came from")
    raw = models.TextField(help_text="The message as received (segments separated by CR)")
    received_at = models.DateTimeField(default=now)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    error_location = models.CharField(max_length=40, blank=True, help_text="e.g. PID-3")
    error_text = models.TextField(blank=True)
    ack = models.TextField(blank=True, help_text="The ACK sent back")
    patient = models.ForeignKey(
        Patient, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    encounter = models.ForeignKey(
        Encounter, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    attempts = models.PositiveSmallIntegerField(default=1)
    reprocessed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reprocessed_at = models.DateTimeField(null=True, blank=True)
    # A message whose sender and control id an earlier, different message already used (a
    # sender's counter reset, say): logged apart, pointing at that message, and not processed
    # until someone looks (mar/hl7/inbound.py). Its control id is kept as received.
    reuses = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reused_by"
    )

    class Meta:
        ordering = ["-received_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["sender", "control_id"],
                condition=~models.Q(control_id="") & models.Q(reuses__isnull=True),
                name="mar_interface_message_once",
            )
        ]
        indexes = [models.Index(fields=["outcome", "received_at"])]

    def __str__(self) -> str:
        return f"{self.message_type or 'HL7'} {self.control_id or '(no id)'}: {self.outcome}"

    @property
    def error_message(self) -> str:
        """The error without its location prefix ("RXE-2: ..."), shown beside the location."""
        prefix = f"{self.error_location}: "
        return self.error_text.removeprefix(prefix) if self.error_location else self.error_text

    @property
    def sender_parts(self) -> list[str]:
        """MSH-3 and MSH-4 apart: the log lets a narrow screen break the sender between them."""
        return self.sender.split("^") if self.sender else []


class EncounterSummary(models.Model):
    """The engine's findings on an encounter's record, derived and cached (mar/summary.py).

    Stored in the transaction of every change to the record (the charting services call
    `summary_refresh`), so the board and the live checklist read it and run no engine. Findings
    that depend on the clock (a time in the future, an infusion running 24 h without a pump) are
    right until `valid_until`; after that, or when the row is missing, the reader recomputes it.
    A cache, not a decision: not history-tracked.
    """

    encounter = models.OneToOneField(
        Encounter, on_delete=models.CASCADE, primary_key=True, related_name="summary"
    )
    computed_at = models.DateTimeField()
    valid_until = models.DateTimeField(null=True, blank=True)
    record_error = models.TextField(blank=True)
    # The engine's findings in its order: [{"rule", "severity", "message", "administrations",
    # "field"}], as Finding.to_json() writes them.
    findings = models.JSONField(default=list)

    def __str__(self) -> str:
        return f"E{self.encounter_id}: {len(self.findings)} findings"
