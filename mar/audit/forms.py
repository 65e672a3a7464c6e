"""The sign-in form, telling a locked-out user why the right password does not work."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from mar.audit.lockout import client_ip, login_is_locked


class SignInForm(AuthenticationForm):
    def clean(self) -> dict[str, object]:
        try:
            return super().clean()
        except ValidationError:
            username = self.cleaned_data.get("username")
            if username and login_is_locked(username=username, ip=client_ip(self.request)):
                minutes = settings.LOCKOUT_WINDOW_SECONDS // 60
                raise ValidationError(
                    f"Too many failed sign-ins for this user from this device: try again in "
                    f"{minutes} minutes, or ask an administrator.",
                    code="locked_out",
                ) from None
            raise
