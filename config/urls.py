from collections.abc import Callable

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpResponseBase
from django.urls import include, path
from django.views.generic import RedirectView

from config.admin_site import admin_sign_in
from config.form_refill import SignOutView
from config.session import session_resume
from mar import views as mar_views
from mar.audit.forms import SignInForm
from mar.roles import ADMIN, CODER, NURSE, role_required


def _to(name: str, *roles: str) -> Callable[..., HttpResponseBase]:
    """A redirect to `name` for the roles that page admits (others: 403 here, as there)."""
    view = RedirectView.as_view(pattern_name=name, http_method_names=["get", "head"])
    return role_required(*roles)(view)  # type: ignore[arg-type]


urlpatterns = [
    path("", mar_views.home, name="home"),
    path("healthz", mar_views.healthz, name="healthz"),
    path("favicon.ico", mar_views.favicon, name="favicon"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(authentication_form=SignInForm),
        name="login",
    ),
    path("accounts/resume/", session_resume, name="session_resume"),
    path("accounts/logout/", SignOutView.as_view(), name="logout"),
    # An app's bare address (typed, or a bookmark cut short) leads to its first page, not a 404;
    # only the roles that page admits are sent there.
    path("mar/", _to("mar:board", NURSE), name="mar_index"),
    path("coding/", _to("coding:worklist", CODER), name="coding_index"),
    path("interfaces/", _to("hl7:messages", ADMIN), name="interfaces_index"),
    path("mar/", include("mar.urls")),
    path("coding/", include("coding.urls")),
    path("pharmacy/", include("mar.pharmacy.urls")),
    path("registration/", include("mar.registration.urls")),
    path("interfaces/hl7/", include("mar.hl7.urls")),
    path("fhir/R4/", include("coding.fhir.urls")),
    path("admin/login/", admin_sign_in),  # a signed-in user who is not staff: the app's 403
    path("admin/", admin.site.urls),
]
