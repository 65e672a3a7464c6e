"""Stored results of the charge engine: one ChargeRun per generation, its lines and findings.

Administrations are referred to by their record ids ("A<pk>", see mar/record.py) exactly as
the engine returned them, so a run stays readable after the record changes.
"""

from datetime import date
from typing import Any

from django.db import models
from django.db.models import Q
from django.utils.timezone import now


class ChargeRun(models.Model):
    class Trigger(models.TextChoices):
        SIGN = "sign", "Record signed"
        ADDENDUM = "addendum", "Addendum"
        CLASS_CHANGE = "class_change", "Drug class changed"
        BILLING_CHANGE = "billing_change", "Drug billing data changed"
        POLICY_CHANGE = "policy_change", "Payer coding policy changed"
        # An account number entered by registration on a signed visit (no nurse wrote an
        # addendum: the record's input changed, the coder's corrections carried).
        ACCOUNT = "account", "Account number entered"
        MANUAL = "manual", "Manual"

    encounter = models.ForeignKey(
        "mar.Encounter", on_delete=models.PROTECT, related_name="charge_runs"
    )
    created_at = models.DateTimeField(default=now)
    # The previous runs stay (is_current=False) so a coder can compare before and after.
    is_current = models.BooleanField(default=True)
    trigger = models.CharField(max_length=20, choices=Trigger.choices, default=Trigger.SIGN)
    reason = models.TextField(blank=True)
    input_snapshot = models.JSONField(help_text="The infusion-record/1 dict given to the engine")
    # The drug lines' inputs the record does not carry (waste, the formulary's billing data):
    # a change to them alone is a new input too, so it makes a new run.
    billing_snapshot = models.JSONField(
        default=dict, blank=True, help_text="Per administration: HCPCS, billing unit, container, "
        "dose and waste, as the drug lines read them"
    )  # fmt: skip
    # What the claim reads of the formulary for the run's lines, as it stood when the run was
    # made (coding/claim.py `formulary_snapshot`): a billed drug line keeps its NDC whatever the
    # pharmacist changes after. None: a run stored before runs kept it (today's formulary read).
    formulary_snapshot = models.JSONField(
        null=True, blank=True, help_text="Per administration: the drug, its HCPCS code and "
        "billing unit, and the NDC its drug lines carry (N4 unit, NDC units per billing unit)"
    )  # fmt: skip
    result = models.JSONField(default=dict, help_text="The engine's output (to_json)")
    # Set when the record could not be read (RecordError): no lines, the message for the coder.
    error = models.TextField(blank=True)
    # The payer's coding-policy version the engine coded this run with (None: the defaults).
    payer_policy = models.ForeignKey(
        "mar.PayerPolicy", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Set when this run's accepted charges were sent to billing: an exported run is never
    # regenerated behind the coder's back (a class change flags it instead).
    exported_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["encounter"],
                condition=Q(is_current=True),
                name="coding_one_current_charge_run_per_encounter",
            )
        ]

    def __str__(self) -> str:
        return f"charge run {self.pk} for encounter {self.encounter_id}"


class ChargeLine(models.Model):
    run = models.ForeignKey(ChargeRun, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField(help_text="Claim order, as the engine gave it")
    code = models.CharField(max_length=10)
    units = models.PositiveIntegerField()
    modifiers = models.JSONField(default=list)
    date = models.DateField()
    administrations = models.JSONField(default=list, help_text="Record ids, e.g. ['A12']")
    why = models.TextField()
    rules = models.JSONField(
        default=list,
        blank=True,
        help_text="Ids of the engine's rules the line applied (coding/engine/RULEBOOK.md)",
    )

    class Meta:
        ordering = ["run", "position"]

    def __str__(self) -> str:
        mods = "-".join(self.modifiers)
        return f"{self.code}{'-' + mods if mods else ''} x{self.units}"


class ChargeFinding(models.Model):
    class Severity(models.TextChoices):
        ERROR = "error", "Error"
        WARNING = "warning", "Warning"
        INFO = "info", "Info"

    run = models.ForeignKey(ChargeRun, on_delete=models.CASCADE, related_name="findings")
    position = models.PositiveIntegerField()
    rule = models.CharField(max_length=40)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    administrations = models.JSONField(default=list)
    message = models.TextField()
    field = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["run", "position"]

    def __str__(self) -> str:
        return f"{self.rule} {self.severity}"


# --- HIM coder review (issue 6): the review item, corrections, queries, MUE, exports ---------


class ReviewItem(models.Model):
    """One signed encounter on the coders' worklist; follows the encounter's current run.

    A new current run (an addendum answering a query, a pharmacist's class change) puts the item
    back to NEW and unclaimed, unless a coder holds it in review: it stays hers
    (coding/review.py: review_item_sync, called by coding/services.py: charge_run_store).
    """

    class State(models.TextChoices):
        NEW = "new", "New"
        IN_REVIEW = "in_review", "In review"
        QUERIED = "queried", "Queried"
        ACCEPTED = "accepted", "Accepted"
        EXPORTED = "exported", "Exported"

    encounter = models.OneToOneField(
        "mar.Encounter", on_delete=models.PROTECT, related_name="review_item"
    )
    run = models.ForeignKey(
        ChargeRun, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    state = models.CharField(max_length=20, choices=State.choices, default=State.NEW)
    claimed_by = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    # Who last accepted the item's charges and when (`accepted_run`'s acceptance), written by
    # `review_accept` only and kept with `accepted_run` when a new run, a reopen or a query's
    # answer takes the item back (the state says whether the charges stand accepted): the review
    # page's box names her ("Changed since run 3 was reviewed by ... on 5 Dec 14:02"). None on an
    # item accepted before they were kept (2026-12-07), whose charges changed since.
    accepted_by = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    accepted_at = models.DateTimeField(null=True, blank=True)
    # The run whose charges a coder last accepted: kept when a new run puts the item back to NEW,
    # so the review page marks what changed since the charges she accepted (coding/run_changes.py).
    accepted_run = models.ForeignKey(
        ChargeRun, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Why the item is (back) on the worklist: "signed", "addendum", "class_change", ...
    returned_reason = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["pk"]
        indexes = [models.Index(fields=["state", "claimed_by"])]

    def __str__(self) -> str:
        return f"review of encounter {self.encounter_id} ({self.state})"


class ChargeCorrection(models.Model):
    """A coder's change to one line of a run, with the engine's original kept beside it.

    A correction is tied to what it corrected: `original` is the target line (code, units,
    modifiers, date, administrations). When a new run replaces the one it was made on, it is
    copied onto the new run (coding/corrections.py): CARRIED when the new run has the target
    line unchanged, else NEEDS_REVIEW (the old target in `original`, the new run's nearest line
    in `line`), which blocks acceptance until the coder keeps, adapts or drops it with a reason.
    """

    class Action(models.TextChoices):
        CHANGE = "change", "Change"
        ADD = "add", "Add"
        REMOVE = "remove", "Remove"

    class State(models.TextChoices):
        APPLIED = "applied", "Applied"
        CARRIED = "carried", "Carried forward"
        NEEDS_REVIEW = "needs_review", "Needs re-review"
        KEPT = "kept", "Kept after re-review"
        ADAPTED = "adapted", "Adapted after re-review"
        DROPPED = "dropped", "Dropped after re-review"
        # The coder took the line back to exactly the engine's line (coding/review.py
        # `charge_line_back`): no longer applied, nor carried; kept with who, when and why
        # (`decided_by`, `decided_at`, `decision_reason`, and a `CorrectionDecision` BACK).
        BACK = "to_engine", "Back to the engine's line"

    run = models.ForeignKey(ChargeRun, on_delete=models.PROTECT, related_name="corrections")
    line = models.ForeignKey(
        ChargeLine, null=True, blank=True, on_delete=models.PROTECT, related_name="corrections"
    )
    action = models.CharField(max_length=10, choices=Action.choices)
    original = models.JSONField(default=dict, help_text="The line as generated; {} for an add")
    corrected = models.JSONField(default=dict, help_text="The line as corrected; {} for a remove")
    reason = models.TextField()
    by = models.ForeignKey("auth.User", on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=now)
    state = models.CharField(max_length=20, choices=State.choices, default=State.APPLIED)
    # The correction of the previous run this one continues (reason, by and at are the coder's
    # of the first one, copied).
    carried_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="carried_to"
    )
    decision_reason = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    # A change or removal of a coder's added line (coding/review.py charge_line_correct with
    # `added`): the ADD correction it amends, its `line` then None and its `original` the added
    # line as it stood. The addition itself stays as made.
    amends = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="amendments",
        help_text="The coder's added line (its ADD correction) this change or removal applies to",
    )
    # What it rests on (coding/corrections.py `correction_basis`): the record under its line
    # (the entries of the administrations it covers, with their orders; a drug line's billing
    # data), the engine's line and when the coder made it or last kept or adapted it; and
    # `changed`, what changed since, when it came back for re-review. {} until a run carries
    # it: the run it was made on is then its basis.
    basis = models.JSONField(
        default=dict,
        blank=True,
        help_text="The record under the corrected line as the coder last confirmed it",
    )

    # The states whose correction applies to the lines sent.
    IN_EFFECT = (State.APPLIED, State.CARRIED, State.KEPT, State.ADAPTED)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.action} on run {self.run_id} ({self.state})"

    @property
    def in_effect(self) -> bool:
        return self.state in self.IN_EFFECT


class CorrectionDecision(models.Model):
    """A coder's re-review decision on a correction (keep, adapt, drop) or her undoing of one,
    with its reason, or the correction put back for re-review by the nurse's answer to a query
    (answered): one row each, in order, never overwritten (coding/corrections.py). The
    reconciliation report lists them. `before` and `after` are the correction's state, action,
    original and corrected around the decision: an undo puts back the `before` of the decision
    it undoes."""

    class Decision(models.TextChoices):
        KEEP = "keep", "Kept"
        ADAPT = "adapt", "Adapted"
        DROP = "drop", "Dropped"
        UNDO = "undo", "Undone"
        # Not the coder's: the nurse answered a query the correction rested on, in words, no
        # new run made (coding/corrections.py `corrections_answer_rereview`); `by` is the
        # addendum's author, `reason` what she answered.
        ANSWERED = "answered", "Back for re-review (query answered)"
        # The coder's: the line back to exactly the engine's line (`charge_line_back`).
        BACK = "to_engine", "Back to the engine's line"

    correction = models.ForeignKey(
        ChargeCorrection, on_delete=models.PROTECT, related_name="decisions"
    )
    decision = models.CharField(max_length=10, choices=Decision.choices)
    reason = models.TextField()
    by = models.ForeignKey("auth.User", on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=now)
    before = models.JSONField(
        default=dict, blank=True, help_text="The correction before: state, action, original, "
        "corrected"
    )  # fmt: skip
    after = models.JSONField(default=dict, blank=True, help_text="The correction after it")

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.decision} of correction {self.correction_id}"


class ClassChangeAfterExport(models.Model):
    """A pharmacist's change of a drug's class, billing data (HCPCS code, billing unit,
    container) or NDCs that reaches an exported run (coding/class_after_export.py).

    An exported run is never replaced behind the coder's back: the change flags it (`OPEN`),
    saying what the run was made with that differs from the formulary now (`changes`, one entry
    per administration and field: its class, or a field of the billing data its drug lines
    read) and the pharmacist's decisions that did it (`reason`). It stays open while the
    difference stands, kept to it at every later change of the formulary governing the run: the
    formulary changed back to what the run used ends it (`REVERTED`); the coder ends it by
    re-running the charges under the formulary now (`RERUN`, `rerun` the new run, which goes
    through review and whose export sends only the difference) or by saying the billed claim
    stands, with a reason (`STANDS`, while the difference stays: a change altering it flags the
    run again; changed back after it, a `REVERTED` row says so). At most one open per run. (The
    name is the first kind it flagged: a class change.)
    """

    class State(models.TextChoices):
        OPEN = "open", "Waiting for the coder"
        RERUN = "rerun", "Re-run under the formulary now"
        STANDS = "stands", "Billed claim stands"
        REVERTED = "reverted", "Changed back"

    run = models.ForeignKey(
        ChargeRun, on_delete=models.PROTECT, related_name="class_changes_after_export"
    )
    # [{"administration": "A12", "drug": "...", "field": "drug_class" (absent on the flags
    # stored before billing data was flagged too) or a billing field (`BILLING_FIELDS`),
    # "billed": what the run was made with, "now": what the formulary gives now}]
    changes = models.JSONField(default=list)
    reason = models.TextField(help_text="The pharmacist's decisions that made it, in order")
    flagged_at = models.DateTimeField(default=now)
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    decided_by = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    rerun = models.ForeignKey(
        ChargeRun, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["flagged_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["run"],
                condition=Q(state="open"),
                name="coding_one_open_class_change_per_run",
            )
        ]

    def __str__(self) -> str:
        return f"formulary change after export of run {self.run_id} ({self.state})"

    # What a flag's change names, beside the class: the formulary's billing data the drug lines
    # read (coding/drug_lines.py `drug_line_inputs`) and the NDC facts its claim carries
    # (coding/claim.py `formulary_snapshot`), as the run keeps them.
    CLASS_FIELD = "drug_class"
    BILLING_FIELDS = {
        "hcpcs": "HCPCS code",
        "billing_unit": "billing unit",
        "container": "container",
        "claim_ndc": "NDC the doses group under",
        "ndc": "NDC",
        "ndc_unit": "NDC unit",
        "ndc_per_unit": "NDC units per billing unit",
        "ndc_billing_units_per_unit": "billing units per NDC unit",
    }

    @classmethod
    def field_of(cls, change: dict[str, Any]) -> str:
        return str(change.get("field") or cls.CLASS_FIELD)

    @classmethod
    def what_changed(cls, changes: list[dict[str, Any]]) -> str:
        """What the changes are of: "Drug class", "Billing data", "Drug class and billing data"
        ("" for none)."""
        fields = {cls.field_of(change) for change in changes}
        classes = cls.CLASS_FIELD in fields
        billing = bool(fields - {cls.CLASS_FIELD})
        if classes and billing:
            return "Drug class and billing data"
        return "Drug class" if classes else "Billing data" if billing else ""

    @classmethod
    def describe(cls, change: dict[str, Any]) -> str:
        """One change in words: "paclitaxel HCPCS code J9267 -> J9264"."""
        name = cls.field_of(change)
        if name == cls.CLASS_FIELD:
            billed, now = cls.class_words(change.get("billed")), cls.class_words(change.get("now"))
            return f"{change.get('drug', '')} {billed} -> {now}"
        label = cls.BILLING_FIELDS.get(name, name)
        billed, now = change.get("billed") or "(none)", change.get("now") or "(none)"
        return f"{change.get('drug', '')} {label} {billed} -> {now}"

    @staticmethod
    def class_words(value: Any) -> str:
        """A class as the pages say it ("Hormonal antineoplastic"), not its stored value (QA:
        the coder read "therapeutic -> chemo_hormonal")."""
        from mar.models import DrugClass

        if not value:
            return "untagged"
        return str(DrugClass(value).label) if value in DrugClass.values else str(value)

    @property
    def what(self) -> str:
        return self.what_changed(self.changes)

    @property
    def entries(self) -> list[dict[str, str]]:
        """The changes as the pages show them: each with its field's label ("" for the class)
        and its values in words ("untagged", "(none)")."""
        out = []
        for change in self.changes:
            name = self.field_of(change)
            blank = "untagged" if name == self.CLASS_FIELD else "(none)"
            out.append(
                {
                    "administration": str(change.get("administration", "")),
                    "drug": str(change.get("drug", "")),
                    "field": name,
                    "label": ""
                    if name == self.CLASS_FIELD
                    else self.BILLING_FIELDS.get(name, name),
                    "billed": self.class_words(change.get("billed"))
                    if name == self.CLASS_FIELD
                    else str(change.get("billed") or blank),
                    "now": self.class_words(change.get("now"))
                    if name == self.CLASS_FIELD
                    else str(change.get("now") or blank),
                    "text": self.describe(change),
                }
            )
        return out


class EditOverride(models.Model):
    """A coder's decision to send a line despite an edit (EDIT-MUE, ...), with the reason."""

    run = models.ForeignKey(ChargeRun, on_delete=models.PROTECT, related_name="edit_overrides")
    rule = models.CharField(max_length=40)
    # The edit's message names the code, units and date, so an override stops applying when the
    # lines it was given for change.
    message = models.TextField()
    reason = models.TextField()
    by = models.ForeignKey("auth.User", on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"override {self.rule} on run {self.run_id}"


class DocumentationQuery(models.Model):
    """A coder's question to the nurse about a finding; answered by an addendum, or withdrawn
    by a coder with a reason (sent by mistake, settled another way: coding/review.py
    `query_withdraw`), after which no addendum answers it."""

    encounter = models.ForeignKey(
        "mar.Encounter", on_delete=models.PROTECT, related_name="documentation_queries"
    )
    run = models.ForeignKey(ChargeRun, on_delete=models.PROTECT, related_name="queries")
    rule = models.CharField(max_length=40, help_text="The finding asked about, e.g. RAC-3")
    administrations = models.JSONField(default=list)
    question = models.TextField()
    asked_by = models.ForeignKey("auth.User", on_delete=models.PROTECT, related_name="+")
    asked_at = models.DateTimeField(default=now)
    answered_by_addendum = models.ForeignKey(
        "mar.Addendum", null=True, blank=True, on_delete=models.PROTECT, related_name="answers"
    )
    answered_at = models.DateTimeField(null=True, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_by = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    withdrawn_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["asked_at", "pk"]
        verbose_name_plural = "documentation queries"

    def __str__(self) -> str:
        return f"query {self.rule} on encounter {self.encounter_id}"

    @property
    def is_open(self) -> bool:
        return self.answered_at is None and self.withdrawn_at is None

    @property
    def is_withdrawn(self) -> bool:
        return self.withdrawn_at is not None


class MueLimit(models.Model):
    """A per-day unit limit (CMS Medically Unlikely Edit, outpatient hospital), loaded from CSV."""

    code = models.CharField(max_length=10, unique=True)
    limit = models.PositiveIntegerField()
    adjudication_indicator = models.CharField(max_length=200, blank=True)
    rationale = models.CharField(max_length=200, blank=True)
    loaded_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"MUE {self.code} {self.limit}"


class Export(models.Model):
    """One batch sent to billing, kept in each format as sent; what it sent per line is in
    LedgerEntry (charges and the credits reversing earlier charges)."""

    created_at = models.DateTimeField(default=now)
    created_by = models.ForeignKey("auth.User", on_delete=models.PROTECT, related_name="+")
    runs = models.ManyToManyField(ChargeRun, related_name="exports")
    csv_text = models.TextField()
    hl7_text = models.TextField()
    fhir_json = models.TextField()

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"export {self.pk}"


class LedgerEntry(models.Model):
    """One transaction sent to billing for an encounter: a charge (CG), or a credit (CD) that
    reverses an earlier charge. An encounter's charges standing at billing are its CG entries
    with no CD; the next export sends only the difference to its accepted lines
    (coding/ledger.py). A charge's `transaction_id` is the line identifier the billing system
    knows; a credit is sent under the id of the charge it reverses."""

    class Kind(models.TextChoices):
        CHARGE = "CG", "Charge"
        CREDIT = "CD", "Credit"

    encounter = models.ForeignKey(
        "mar.Encounter", on_delete=models.PROTECT, related_name="ledger_entries"
    )
    export = models.ForeignKey(Export, on_delete=models.PROTECT, related_name="entries")
    run = models.ForeignKey(ChargeRun, on_delete=models.PROTECT, related_name="ledger_entries")
    kind = models.CharField(max_length=2, choices=Kind.choices)
    transaction_id = models.CharField(max_length=40)
    reverses = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by"
    )
    code = models.CharField(max_length=10)
    modifiers = models.JSONField(default=list)
    units = models.PositiveIntegerField()
    date = models.DateField()
    administrations = models.JSONField(default=list)
    # Everything else the line carried when sent (revenue code, price, NDC, diagnosis...): a
    # change to any of it is a change the billing system must hear about.
    detail = models.JSONField(default=dict, blank=True)
    # How its NDC quantity (`detail["ndc_quantity"]`) was rounded to 3 decimals when sent:
    # half-even for entries written before 2026-12-07 (migration 0025), half-up since
    # (coding/claim.py `NDC_ROUNDING`); a credit keeps the rule of the charge it reverses. The
    # ledger does not re-send a line whose exact quantity rounds, under this rule, to what was
    # sent (coding/ledger.py `ledger_difference`).
    ndc_rounding = models.CharField(
        max_length=10,
        choices=[("half-even", "Half-even"), ("half-up", "Half-up")],
        default="half-up",
    )
    # The visit's account number the transaction went under (PID-18, the CSV's column, the
    # FHIR context's identifier), "" when it had none: a charge sent without one, the number
    # entered since (mar/registration/services.py `encounter_account_set`), is credited and
    # charged again under it by the next export (coding/ledger.py `ledger_difference`).
    account_number = models.CharField(max_length=40, blank=True, default="")
    at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["encounter", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["transaction_id"],
                condition=Q(kind="CG"),
                name="coding_ledger_one_charge_per_transaction_id",
            )
        ]

    def __str__(self) -> str:
        mods = "-".join(self.modifiers)
        return f"{self.kind} {self.transaction_id} {self.code}{'-' + mods if mods else ''}"


class ChargeOutbox(models.Model):
    """A charge generation owed to an encounter, written in the transaction that made it owed.

    Signing (or an addendum) inserts a row in the same transaction as the signature, so the
    obligation commits or rolls back with it. The task marks the row done; a periodic job
    (coding/outbox.py: outbox_resend_pending, run by Celery beat) sends rows still pending, so a
    broker outage delays charges and never drops them. Generation is idempotent, so a row sent
    twice makes one charge run.
    """

    encounter = models.ForeignKey(
        "mar.Encounter", on_delete=models.PROTECT, related_name="charge_outbox"
    )
    kind = models.CharField(
        max_length=20, choices=ChargeRun.Trigger.choices, default=ChargeRun.Trigger.SIGN
    )
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=now)
    # Last time the task was handed to the broker; NULL: never (the broker was down).
    sent_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["pk"]
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=Q(done_at__isnull=True),
                name="coding_outbox_pending",
            )
        ]

    def __str__(self) -> str:
        state = "done" if self.done_at else "pending"
        return f"outbox {self.pk} ({self.kind}) for encounter {self.encounter_id}: {state}"


class AuditSweep(models.Model):
    """A self-audit (coding/sweep.py): every signed encounter of a date range re-coded under
    today's rules and a chosen policy, compared with what was billed. It changes nothing billed;
    its rows are a report, re-made by running it again (not history-tracked)."""

    created_by = models.ForeignKey("auth.User", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=now)
    date_from = models.DateField()
    date_to = models.DateField()
    payer = models.ForeignKey(
        "mar.Payer", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    policy_label = models.CharField(max_length=200, help_text="e.g. 'Medicare policy v2'")
    policy = models.JSONField(help_text="The engine's policy the encounters were re-coded with")
    total = models.PositiveIntegerField(default=0, help_text="Signed encounters in the range")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Sweep {self.pk}: {self.date_from} to {self.date_to}, {self.policy_label}"


class AuditSweepChunk(models.Model):
    """One task's share of a sweep: its encounters, and once done their totals."""

    sweep = models.ForeignKey(AuditSweep, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    encounter_ids = models.JSONField(default=list)
    done_at = models.DateTimeField(null=True, blank=True)
    # {"encounters", "differing", "errors", "billed": {code: units}, "recoded": {code: units}}
    # for the encounters sent to billing ("billed_encounters", "billed_differing"), and for those
    # not yet billed "current", "recoded_current" ({code: units}), "current_encounters",
    # "current_differing" (coding/sweep.py). A chunk stored before has no "billed_encounters":
    # its "billed" holds the current charges of every encounter, exported or not.
    totals = models.JSONField(default=dict)

    class Meta:
        ordering = ["sweep", "index"]
        constraints = [
            models.UniqueConstraint(fields=["sweep", "index"], name="coding_sweep_chunk_index")
        ]

    def __str__(self) -> str:
        return f"Sweep {self.sweep_id} chunk {self.index}"


class AuditSweepDifference(models.Model):
    """An encounter whose units by code differ between what was billed and the re-coding; for
    an encounter not yet exported, between its current charges (not yet billed) and the
    re-coding (`compared_with` says which `billed` holds)."""

    class ComparedWith(models.TextChoices):
        BILLED = "billed", "billed (sent to billing)"
        CURRENT = "current", "not yet billed: current charges"

    sweep = models.ForeignKey(AuditSweep, on_delete=models.CASCADE, related_name="differences")
    chunk = models.ForeignKey(AuditSweepChunk, on_delete=models.CASCADE, related_name="differences")
    encounter = models.ForeignKey("mar.Encounter", on_delete=models.PROTECT, related_name="+")
    billed = models.JSONField(
        default=dict,
        help_text="{code: units} as billed (the ledger's standing charges), or, not yet billed, "
        "as the current charges stand (compared_with)",
    )
    compared_with = models.CharField(
        max_length=10,
        choices=ComparedWith.choices,
        blank=True,
        help_text="What `billed` holds; empty: stored before the two were told apart (both)",
    )
    recoded = models.JSONField(default=dict, help_text="{code: units} re-coded")
    error = models.TextField(blank=True, help_text="Why the record could not be re-coded")

    class Meta:
        ordering = ["sweep", "encounter"]
        constraints = [
            models.UniqueConstraint(
                fields=["sweep", "encounter"], name="coding_sweep_difference_once"
            )
        ]

    def __str__(self) -> str:
        return f"Sweep {self.sweep_id} E{self.encounter_id}"


class ApiToken(models.Model):
    """A key for one integration (another EHR, the hospital's interface engine) to the FHIR API
    (coding/fhir/): never a user's password. Only its SHA-256 is kept; the key is shown once,
    when made (admin, or `manage.py fhir_token`). Scopes: "read" (search and read), "import"
    (post a transaction Bundle). An admin revokes it; a revoked token is refused at once."""

    class Scope(models.TextChoices):
        READ = "read", "Read (search, read)"
        IMPORT = "import", "Import (transaction Bundle)"

    name = models.CharField(max_length=100, unique=True, help_text="The integration, e.g. Epic MAR")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    key_prefix = models.CharField(max_length=12, editable=False, help_text="To recognise it")
    scopes = models.JSONField(default=list, help_text='e.g. ["read"] or ["read", "import"]')
    created_by = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        state = " (revoked)" if self.revoked_at else ""
        return f"{self.name} {self.key_prefix}…{state}"


class ApiCall(models.Model):
    """Every call to the FHIR API: who (token), what (method, path, query), the answer's status
    and, for an import, the encounters it made. Append-only in practice: nothing updates it."""

    token = models.ForeignKey(
        ApiToken, null=True, blank=True, on_delete=models.PROTECT, related_name="calls"
    )
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    query = models.CharField(max_length=1000, blank=True)
    status = models.PositiveSmallIntegerField()
    remote_addr = models.CharField(max_length=100, blank=True)
    at = models.DateTimeField(default=now, db_index=True)
    encounters = models.JSONField(default=list, blank=True, help_text="Made by an import")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.method} {self.path} {self.status}"


class ChargeMasterItem(models.Model):
    """One version of a code's line in the hospital's charge master (CDM): the revenue code the
    UB-04 line carries (0260 IV therapy, 0331/0335 chemotherapy, 0636 drugs requiring detailed
    coding, ...), the description and the unit price, in effect from `effective_from` until the
    code's next version. Loaded from CSV, all or nothing (coding/chargemaster.py,
    `manage.py load_charge_master`): a load adds versions from its date, history is kept. A
    version with `listed` False says the code is no longer priced from that date (a load that
    no longer listed it); it keeps the values it ended."""

    code = models.CharField(max_length=10)
    effective_from = models.DateField(default=date.min)
    listed = models.BooleanField(default=True)
    revenue_code = models.CharField(max_length=4)
    description = models.CharField(max_length=200)
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)
    loaded_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["code", "effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["code", "effective_from"], name="coding_cdm_one_version_a_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.code} rev {self.revenue_code} {self.unit_price} from {self.effective_from}"


class ChargeMasterUpload(models.Model):
    """One accepted charge master file (the upload screen's or `load_charge_master`'s), written
    in the load's transaction whatever it changed: who (the user; the command's system account),
    when, which file (name, size, SHA-256), from which date, and what it did. A load that
    changes no price writes no ChargeMasterItem, so this row (and its event in the audit trail)
    is the only record of it. A refused file stores nothing, this row included."""

    class Via(models.TextChoices):
        SCREEN = "screen", "Upload screen"
        COMMAND = "command", "manage.py load_charge_master"
        OTHER = "other", "Another caller (a script, the shell)"

    uploaded_at = models.DateTimeField(default=now)
    uploaded_by = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    via = models.CharField(max_length=10, choices=Via.choices)
    system_user = models.CharField(
        max_length=150, blank=True, help_text="The account that ran the command"
    )
    file_name = models.CharField(max_length=200, blank=True)
    file_size = models.PositiveBigIntegerField(help_text="Bytes")
    file_sha256 = models.CharField(max_length=64)
    effective_from = models.DateField()
    replace = models.BooleanField(help_text="Codes the file does not list end from that date")
    codes = models.PositiveIntegerField(help_text="Codes in the file")
    added = models.PositiveIntegerField(help_text="Codes not priced then, priced from the date")
    changed = models.PositiveIntegerField(help_text="Codes re-priced from the date")
    delisted = models.PositiveIntegerField(help_text="Codes no longer priced from the date")

    class Meta:
        ordering = ["-uploaded_at", "-pk"]

    def __str__(self) -> str:
        what = "changed nothing" if self.changed_nothing else "changed prices"
        return f"{self.file_name or 'charge master'} from {self.effective_from}: {what}"

    @property
    def changed_nothing(self) -> bool:
        return self.added == self.changed == self.delisted == 0


class PtpEdit(models.Model):
    """One NCCI procedure-to-procedure pair (hospital outpatient): column 2 is not paid with
    column 1 on the same day unless the modifier indicator allows a distinct-procedure modifier
    (1) — never when it is 0; 9 means the edit does not apply. Loaded from CMS's file
    (coding/ptp.py, `manage.py load_ptp`); the pair logic is the engine's (engine/ptp.py)."""

    class Indicator(models.TextChoices):
        NOT_ALLOWED = "0", "0: no modifier allowed"
        ALLOWED = "1", "1: a distinct-procedure modifier allowed"
        NOT_APPLICABLE = "9", "9: not applicable"

    column1 = models.CharField(max_length=10)
    column2 = models.CharField(max_length=10)
    effective_date = models.DateField()
    deletion_date = models.DateField(null=True, blank=True)
    modifier_indicator = models.CharField(max_length=1, choices=Indicator.choices)
    rationale = models.CharField(max_length=200, blank=True)
    loaded_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["column1", "column2", "effective_date"]
        constraints = [
            models.UniqueConstraint(
                fields=["column1", "column2", "effective_date"], name="coding_ptp_pair_once"
            )
        ]
        indexes = [models.Index(fields=["column2"])]

    def __str__(self) -> str:
        return f"PTP {self.column1}/{self.column2} ({self.modifier_indicator})"
