"""manage.py demo: migrate, load the formulary, demo users and a day of encounters. Idempotent.

`--addr` is where bin/demo serves (its DEMO_ADDR): the sign-in address printed is that one. The
sign-ins come last, after migrate's output (pgtrigger's ~110 "Installing trigger" lines are
kept to warnings here), so the passwords are the last thing on the screen.
"""

import logging
from argparse import ArgumentParser
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
    demo_max_doses_ensure,
    demo_ndcs_ensure,
    demo_payers_ensure,
    demo_users_ensure,
)
from mar.pharmacy.formulary import formulary_load_csv


class Command(BaseCommand):
    help = "Migrate and load demo data: formulary, a user per role, today's encounters."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--addr",
            default="127.0.0.1:8000",
            help="host:port the demo is served at (bin/demo passes DEMO_ADDR)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("The demo has fixed passwords: it does not run in production.")
        triggers = logging.getLogger("pgtrigger")
        level = triggers.level
        triggers.setLevel(logging.WARNING)
        try:
            call_command("migrate", interactive=False, verbosity=0)
        finally:
            triggers.setLevel(level)
        drugs = formulary_load_csv(update_existing=False)
        self.stdout.write(f"Formulary: {drugs} drugs from the starter file.")
        demo_containers_ensure()  # single- or multi-dose, for the JW/JZ waste modifiers
        demo_ndcs_ensure()  # demo packages: scanning and the drug lines' NDC work in the demo
        demo_max_doses_ensure()  # the formulary's maximum single doses (the dose check)
        # Per-day unit limits (a sample of the CMS MUE table) so the coder's edits show.
        call_command("load_mue", verbosity=0, stdout=self.stdout)
        # Revenue codes and prices (the sample charge master) so lines and the worklist show money.
        call_command("load_charge_master", verbosity=0, stdout=self.stdout)
        users = demo_users_ensure()
        payers = demo_payers_ensure(by=users["admin"])  # to choose on a new visit
        self.stdout.write(f"Payers: {len(payers)}, each with its coding policy.")
        now = timezone.now()
        if demo_day_exists(now=now):
            self.stdout.write("Today's demo encounters already exist: left as they are.")
        else:
            encounters = demo_day_create(
                now=now, nurse=users["nurse"], pharmacist=users["pharmacist"]
            )
            signed = demo_day_sign(encounters=encounters, nurse=users["nurse"])
            self.stdout.write(f"Encounters: {len(encounters)} created, {len(signed)} signed.")
        self.stdout.write(f"\nSign in at {demo_url(options['addr'])} as:")
        for spec in DEMO_USERS:
            self.stdout.write(
                f"  {spec.role:<11} username {spec.username:<11} password {spec.password}"
            )
        self.stdout.flush()


def demo_url(addr: str) -> str:
    """The address runserver is given ("127.0.0.1:8001", "8001", "[::1]:8000") as a URL."""
    addr = addr.strip() or "127.0.0.1:8000"
    if addr.isdigit():
        addr = f"127.0.0.1:{addr}"
    return f"http://{addr}/"
