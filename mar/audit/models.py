"""The audit trail at the database, and the guard that keeps signed records unchanged.

1. History (django-pghistory). Every insert, update and delete of the clinical record, the
   formulary and the charges is copied by a PostgreSQL trigger into an event table here
   (`<Model>Event`, e.g. AdministrationEvent), with when (`pgh_created_at`) and who
   (`pgh_context`: the user and URL set by audit.middleware.history_context, or the Celery task).
   Event tables are append-only: a trigger refuses UPDATE and DELETE on them.

2. Signed records (django-pgtrigger, SQL in mar/audit/guard.py). Once an encounter is signed, its
   rows (the encounter, sites, orders, administrations, pauses, flushes) change only in a
   transaction that also inserts an Addendum for that encounter; an order's drug-class override
   may also change with a DrugClassChange row for that order (the pharmacist's recorded
   decision). Anything else is refused by PostgreSQL at commit, whatever the SQL or its author.
   Addenda themselves are append-only, and a signature can never be undone.

Triggers are installed by `migrate` (PGTRIGGER_INSTALL_ON_MIGRATE), not by migration files, so
the tracked apps' migrations stay theirs: `manage.py pgtrigger ls` lists them.
"""

import pghistory
from django.db import models
from django.utils.timezone import now

from coding import models as coding
from mar import models as mar
from mar.audit import guard

# The tracked models. A model added to mar or coding later is tracked by adding it here
# (and running makemigrations audit).
TRACKED: list[type[models.Model]] = [
    mar.Drug,
    mar.DrugNdc,
    mar.Payer,
    mar.PayerPolicy,
    mar.DrugClassChange,
    mar.Patient,
    mar.Encounter,
    mar.AccessSite,
    mar.Order,
    mar.Administration,
    mar.Pause,
    mar.Flush,
    mar.Addendum,
    mar.FindingAcknowledgement,
    mar.PatientMeasure,
    mar.RateChange,
    mar.SiteAssessment,
    mar.BarcodeScan,
    mar.SafetyOverride,
    mar.ChartedInError,
    coding.ChargeRun,
    coding.ChargeLine,
    coding.ChargeFinding,
    coding.ChargeOutbox,
    coding.ReviewItem,
    coding.ChargeCorrection,
    coding.CorrectionDecision,
    coding.EditOverride,
    coding.ClassChangeAfterExport,
    coding.DocumentationQuery,
    coding.MueLimit,
    coding.ChargeMasterItem,
    coding.ChargeMasterUpload,
    coding.PtpEdit,
    coding.Export,
    coding.LedgerEntry,
    coding.ApiToken,
]

# Fields an event table does not copy. A rate row's addendum mark restates what the trail holds
# already: the correction's own update event (`action` "rate_change_update", the row before and
# after, who and when in its context), in one transaction with its Addendum.
UNTRACKED_FIELDS: dict[type[models.Model], list[str]] = {}

EVENTS: dict[type[models.Model], type[models.Model]] = {}
for _model in TRACKED:
    EVENTS[_model] = pghistory.create_event_model(
        _model,
        pghistory.InsertEvent(),
        pghistory.UpdateEvent(),
        pghistory.DeleteEvent(),
        app_label="audit",
        model_name=f"{_model.__name__}Event",
        obj_field=pghistory.ObjForeignKey(related_name="audit_events", db_index=True),
        append_only=True,
        exclude=UNTRACKED_FIELDS.get(_model),
        abstract=False,
    )

guard.register()


class LoginFailure(models.Model):
    """A failed sign-in, for the lockout (mar/audit/lockout.py) and for the security review."""

    username = models.CharField(max_length=150)
    ip = models.GenericIPAddressField(null=True, blank=True)
    at = models.DateTimeField(default=now, db_index=True)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["username", "ip", "at"])]

    def __str__(self) -> str:
        return f"{self.username} from {self.ip} at {self.at:%Y-%m-%d %H:%M}"
