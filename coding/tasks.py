"""Celery tasks: thin wrappers that fetch by id and call one service."""

from celery import shared_task

from coding.models import ChargeRun
from coding.services import charge_run_generate


@shared_task(name="coding.generate_charges")
def generate_charges(
    encounter_id: int, trigger: str = ChargeRun.Trigger.SIGN, reason: str = ""
) -> int:
    """Generate (or confirm) the encounter's current charge run; returns the run's id."""
    run, _created = charge_run_generate(encounter_id=encounter_id, trigger=trigger, reason=reason)
    return run.pk
