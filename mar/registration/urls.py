"""The clerk's screens (namespace `registration`)."""

from django.urls import path

from mar.registration import views

app_name = "registration"

urlpatterns = [
    path("", views.home, name="home"),
    path("patients/new/", views.patient_new, name="patient_new"),
    path("patients/<int:pk>/", views.patient_detail, name="patient"),
    path("patients/<int:pk>/visits/new/", views.visit_new, name="visit_new"),
    path("visits/<int:pk>/", views.visit_detail, name="visit"),
    path("visits/<int:pk>/account/", views.visit_account_set, name="visit_account_set"),
    path("visits/<int:pk>/orders/new/", views.order_new, name="order_new"),
    path(
        "visits/<int:pk>/orders/<int:order_pk>/cancel/",
        views.order_cancel_view,
        name="order_cancel",
    ),
    path("visits/<int:pk>/orders/check/<str:field>/", views.order_check, name="order_check"),
    path(
        "visits/<int:pk>/orders/check-duplicate/",
        views.order_duplicate_check,
        name="order_duplicate_check",
    ),
    path("search/drugs/", views.drug_options, name="drug_options"),
    path("search/icd10/", views.icd10_options, name="icd10_options"),
]
