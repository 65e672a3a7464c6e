"""The app side of the fault tests, run as a subprocess: python -m tests.faults.app COMMAND.

create             a complete chemotherapy encounter and a nurse; prints {"encounter": pk}
sign PK            signs it as the nurse (the charge task is sent after commit)
Output is one JSON line.
"""

import json
import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.contrib.auth.models import Group, User  # noqa: E402

from mar.models import Encounter  # noqa: E402
from mar.services.signature import signature_store  # noqa: E402
from tests import factories  # noqa: E402

NURSE = "fault-nurse"
PASSWORD = "fault-test-password-1"


def nurse() -> User:
    user = User.objects.filter(username=NURSE).first()
    if user is None:
        user = User.objects.create_user(username=NURSE, password=PASSWORD)
        user.groups.add(Group.objects.get_or_create(name="nurse")[0])
    return user


def main(argv: list[str]) -> dict[str, object]:
    command = argv[0]
    if command == "create":
        nurse()
        encounter = factories.chemo_encounter_create()
        return {"encounter": encounter.pk, "administrations": encounter.administrations.count()}
    if command == "sign":
        encounter = Encounter.objects.get(pk=int(argv[1]))
        signature_store(encounter=encounter, user=nurse())
        return {"signed": encounter.pk}
    raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
