from django.urls import path

from coding import chargemaster_views, payer_views, sweep_views, views

app_name = "coding"

urlpatterns = [
    path("worklist/", views.worklist, name="worklist"),
    path("worklist/claim-next/", views.claim_next, name="claim_next"),
    path("encounters/<int:pk>/", views.encounter_charges, name="encounter_charges"),
    path("encounters/<int:pk>/claim/", views.claim, name="claim"),
    path("encounters/<int:pk>/release/", views.release, name="release"),
    path("encounters/<int:pk>/accept/", views.accept, name="accept"),
    path("encounters/<int:pk>/reopen/", views.reopen, name="reopen"),
    path("encounters/<int:pk>/lines/<int:line_id>/", views.line_correct, name="line_correct"),
    path("encounters/<int:pk>/lines/<int:line_id>/back/", views.line_back, name="line_back"),
    path("encounters/<int:pk>/lines/add/", views.line_add, name="line_add"),
    path(
        "encounters/<int:pk>/added/<int:correction_id>/",
        views.added_line_correct,
        name="added_line_correct",
    ),
    path(
        "encounters/<int:pk>/corrections/<int:correction_id>/resolve/",
        views.correction_resolve_view,
        name="correction_resolve",
    ),
    path(
        "encounters/<int:pk>/corrections/<int:correction_id>/undo/",
        views.correction_undo_view,
        name="correction_undo",
    ),
    path("encounters/<int:pk>/class-change/rerun/", views.class_rerun_view, name="class_rerun"),
    path("encounters/<int:pk>/class-change/stands/", views.class_stands_view, name="class_stands"),
    path("encounters/<int:pk>/override/", views.override, name="override"),
    path("encounters/<int:pk>/query/", views.query, name="query"),
    path(
        "encounters/<int:pk>/queries/<int:query_id>/withdraw/",
        views.query_withdraw_view,
        name="query_withdraw",
    ),
    path("exports/", views.exports, name="exports"),
    path("exports/new/", views.export_new, name="export_new"),
    path("exports/<int:pk>/<str:fmt>/", views.export_download, name="export_download"),
    path("reports/findings/", views.report_findings, name="report_findings"),
    path("reports/reconciliation/", views.report_reconciliation, name="report_reconciliation"),
    path("payers/", payer_views.payers, name="payers"),
    path("payers/<int:pk>/policy/", payer_views.payer_policy, name="payer_policy"),
    path("charge-master/", chargemaster_views.charge_master, name="charge_master"),
    path(
        "charge-master/upload/",
        chargemaster_views.charge_master_upload,
        name="charge_master_upload",
    ),
    path("sweeps/", sweep_views.sweeps, name="sweeps"),
    path("sweeps/<int:pk>/", sweep_views.sweep, name="sweep"),
    path("sweeps/<int:pk>/progress/", sweep_views.sweep_progress_view, name="sweep_progress"),
    path("sweeps/<int:pk>/resend/", sweep_views.sweep_resend_view, name="sweep_resend"),
    path("sweeps/<int:pk>/csv/", sweep_views.sweep_download, name="sweep_csv"),
]
