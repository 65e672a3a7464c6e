from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from config.admin_site import admin_sign_in
from config.session import session_resume
from mar import views as mar_views
from mar.audit.forms import SignInForm

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
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("mar/", include("mar.urls")),
    path("coding/", include("coding.urls")),
    path("pharmacy/", include("mar.pharmacy.urls")),
    path("registration/", include("mar.registration.urls")),
    path("interfaces/hl7/", include("mar.hl7.urls")),
    path("fhir/R4/", include("coding.fhir.urls")),
    path("admin/login/", admin_sign_in),  # a signed-in user who is not staff: the app's 403
    path("admin/", admin.site.urls),
]
