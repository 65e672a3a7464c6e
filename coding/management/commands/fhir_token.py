"""manage.py fhir_token NAME --scope read --scope import: a FHIR API token for an integration
(the key is printed once); --revoke NAME revokes one."""

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from coding.fhir.auth import api_token_create, api_token_revoke
from coding.models import ApiToken


class Command(BaseCommand):
    help = "Make (or revoke) a FHIR API token for an integration."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--scope", action="append", choices=ApiToken.Scope.values)
        parser.add_argument("--revoke", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["revoke"]:
            token = ApiToken.objects.filter(name=options["name"]).first()
            if token is None:
                raise CommandError(f"No token named {options['name']!r}.")
            api_token_revoke(token=token, user=None)
            self.stdout.write(f"Revoked {token}.")
            return
        try:
            token, key = api_token_create(name=options["name"], scopes=options["scope"] or ["read"])
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(f"{token.name} ({', '.join(token.scopes)}): {key}")
