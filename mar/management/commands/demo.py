"""manage.py demo: migrate, load the formulary, demo users and a day of encounters. Idempotent."""

from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from mar.demo import (
    DEMO_USERS,
    demo_containers_ensure,
    demo_day_create,
    demo_day_exists,
    demo_day_sign,
    demo_ndcs_ensure,
    demo_users_ensure,
)
from mar.pharmacy.formulary import formulary_load_csv


class Command(BaseCommand):
    help = "Migrate and load demo data: formulary, a user per role, today's encounters."

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("The demo has fixed passwords: it does not run in production.")
        call_command("migrate", interactive=False, verbosity=0)
        drugs = formulary_load_csv(update_existing=False)
        self.stdout.write(f"Formulary: {drugs} drugs from the starter file.")
        demo_containers_ensure()  # single- or multi-dose, for the JW/JZ waste modifiers
        demo_ndcs_ensure()  # demo packages: scanning and the drug lines' NDC work in the demo
        # Per-day unit limits (a sample of the CMS MUE table) so the coder's edits show.
        call_command("load_mue", verbosity=0, stdout=self.stdout)
        users = demo_users_ensure()
        now = timezone.now()
        if demo_day_exists(now=now):
            self.stdout.write("Today's demo encounters already exist: left as they are.")
        else:
            encounters = demo_day_create(now=now, nurse=users["nurse"])
            signed = demo_day_sign(encounters=encounters, nurse=users["nurse"])
            self.stdout.write(f"Encounters: {len(encounters)} created, {len(signed)} signed.")
        self.stdout.write("\nSign in at http://localhost:8000/ as:")
        for spec in DEMO_USERS:
            self.stdout.write(
                f"  {spec.role:<11} username {spec.username:<11} password {spec.password}"
            )
