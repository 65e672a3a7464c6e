"""Stored results of the charge engine: one ChargeRun per generation, its lines and findings.

Administrations are referred to by their record ids ("A<pk>", see coding/extract.py) exactly as
the engine returned them, so a run stays readable after the record changes.
"""

from django.db import models
from django.db.models import Q
from django.utils.timezone import now


class ChargeRun(models.Model):
    class Trigger(models.TextChoices):
        SIGN = "sign", "Record signed"
        ADDENDUM = "addendum", "Addendum"
        CLASS_CHANGE = "class_change", "Drug class changed"
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
    result = models.JSONField(default=dict, help_text="The engine's output (to_json)")
    # Set when the record could not be read (RecordError): no lines, the message for the coder.
    error = models.TextField(blank=True)
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
