"""API tokens: made once (the key shown then, only its hash kept), checked on every call."""

from __future__ import annotations

import hashlib
import secrets

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from coding.models import ApiToken

PREFIX = "mar_"


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def api_token_create(
    *, name: str, scopes: list[str], user: AbstractBaseUser | None = None
) -> tuple[ApiToken, str]:
    """A new token for an integration; returns it and its key, which is never shown again."""
    unknown = set(scopes) - set(ApiToken.Scope.values)
    if unknown or not scopes:
        raise ValidationError({"scopes": f"Scopes are some of {', '.join(ApiToken.Scope.values)}."})
    if ApiToken.objects.filter(name__iexact=name.strip()).exists():
        raise ValidationError({"name": f"An integration named {name} already has a token."})
    key = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        name=name.strip(),
        key_hash=key_hash(key),
        key_prefix=key[:10],
        scopes=sorted(set(scopes)),
        created_by=user,
    )
    return token, key


def api_token_revoke(*, token: ApiToken, user: AbstractBaseUser | None) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.revoked_by = user  # type: ignore[assignment]
        token.save(update_fields=["revoked_at", "revoked_by"])
    return token


def api_token_for(authorization: str) -> ApiToken | None:
    """The live token an `Authorization: Bearer <key>` header names, else None."""
    scheme, _, key = authorization.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return None
    token = ApiToken.objects.filter(key_hash=key_hash(key.strip())).first()
    if token is None or token.revoked_at is not None:
        return None
    return token
