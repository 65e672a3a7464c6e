"""The interface log: every HL7 message received, what became of it, and the ACK sent back."""

from django.conf import settings
from django.db import models
from django.utils.timezone import now


class InterfaceMessage(models.Model):
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
        "mar.Patient", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    encounter = models.ForeignKey(
        "mar.Encounter", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    attempts = models.PositiveSmallIntegerField(default=1)
    reprocessed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reprocessed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["sender", "control_id"],
                condition=~models.Q(control_id=""),
                name="mar_interface_message_once",
            )
        ]
        indexes = [models.Index(fields=["outcome", "received_at"])]

    def __str__(self) -> str:
        return f"{self.message_type or 'HL7'} {self.control_id or '(no id)'}: {self.outcome}"
