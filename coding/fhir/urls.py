"""The FHIR R4 API (namespace `fhir`), mounted at /fhir/R4/."""

from django.urls import path

from coding.fhir import views

app_name = "fhir"

urlpatterns = [
    path("", views.transaction_post, name="transaction"),
    path("metadata", views.metadata, name="metadata"),
    path("<str:resource_type>", views.search, name="search"),
    path("<str:resource_type>/<str:resource_id>", views.read, name="read"),
]
