"""The pharmacist's routes, included under "pharmacy/" (namespace "pharmacy")."""

from django.urls import path

from mar import care_views
from mar.pharmacy import views

app_name = "pharmacy"

urlpatterns = [
    path("", views.formulary_worklist, name="worklist"),
    path("formulary/", views.formulary, name="formulary"),
    path("formulary.csv", views.formulary_csv, name="formulary_export"),
    path("formulary/import/", views.formulary_import_view, name="formulary_import"),
    path("drugs/new/", views.drug_edit, name="drug_new"),
    path("drugs/<int:pk>/", views.drug_detail, name="drug"),
    path("drugs/<int:pk>/edit/", views.drug_edit, name="drug_edit"),
    path("drugs/<int:pk>/ndcs/", views.drug_ndc_add_view, name="drug_ndc_add"),
    path(
        "drugs/<int:pk>/allergy-classes/",
        views.drug_allergy_classes_view,
        name="drug_allergy_classes",
    ),
    path("drugs/<int:pk>/max-dose/", views.drug_max_dose_view, name="drug_max_dose"),
    path(
        "drugs/<int:pk>/max-dose-by-body/",
        views.drug_max_dose_by_body_view,
        name="drug_max_dose_by_body",
    ),
    path("drugs/<int:pk>/retire/", views.drug_retire_view, name="drug_retire"),
    path("drugs/<int:pk>/reactivate/", views.drug_reactivate_view, name="drug_reactivate"),
    path("drugs/<int:pk>/no-drug-line/", views.drug_no_line_view, name="drug_no_line"),
    path(
        "drugs/<int:pk>/no-drug-line/undo/",
        views.drug_no_line_undo_view,
        name="drug_no_line_undo",
    ),
    # pk: the DrugNdc
    path("ndcs/<int:pk>/edit/", views.drug_ndc_update_view, name="drug_ndc_update"),
    path("ndcs/<int:pk>/retire/", views.drug_ndc_retire_view, name="drug_ndc_retire"),
    path("ndcs/<int:pk>/reactivate/", views.drug_ndc_reactivate_view, name="drug_ndc_reactivate"),
    path("ndcs/<int:pk>/prefer/", views.drug_ndc_prefer_view, name="drug_ndc_prefer"),
    path("drugs/<int:pk>/row/", views.drug_row, name="drug_row"),
    path("drugs/<int:pk>/class/", views.drug_class_edit, name="drug_class"),
    path("orders/", views.order_queue, name="orders"),
    path("orders/<int:pk>/verify/", views.order_verify_view, name="order_verify"),
    path("orders/<int:pk>/return/", views.order_return_view, name="order_return"),
    path(
        "orders/<int:pk>/return/withdraw/",
        views.order_return_withdraw_view,
        name="order_return_withdraw",
    ),
    path("orders/<int:pk>/class/", views.order_class_edit, name="order_class"),
    path("orders/<int:pk>/review/", care_views.order_review, name="order_review"),
    path("overrides/", care_views.overrides_report, name="overrides"),
    path("scans/", care_views.scan_compliance_report, name="scan_compliance"),
    path("scans.csv", care_views.scan_compliance_export, name="scan_compliance_export"),
]
