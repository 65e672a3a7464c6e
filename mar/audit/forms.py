"""The sign-in form, telling a locked-out user why the right password does not work."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from mar.audit.lockout import ClientAddressUnknown, client_ip, login_is_locked


class SignInForm(AuthenticationForm):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        # In words, not "This field is required." (walk20: a name of spaces came back so).
        self.fields["username"].error_messages["required"] = "Enter your user name."
        self.fields["password"].error_messages["required"] = "Enter your password."

    def clean(self) -> dict[str, object]:
        try:
            return super().clean()
        except ValidationError:
            username = self.cleaned_data.get("username")
            try:
                ip = client_ip(self.request)
            except ClientAddressUnknown:
                raise ValidationError(
                    "Sign-in is closed: the proxy in front of this server does not pass the "
                    "client's address (X-Forwarded-For). Tell the administrator.",
                    code="no_client_address",
                ) from None
            if username and login_is_locked(username=username, ip=ip):
                minutes = settings.LOCKOUT_WINDOW_SECONDS // 60
                raise ValidationError(
                    f"Too many failed sign-ins from this device: try again in "
                    f"{minutes} minutes, or ask an administrator.",
                    code="locked_out",
                ) from None
            raise
