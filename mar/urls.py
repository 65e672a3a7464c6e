"""The nurse's screens: the board and the bedside chart (pharmacy routes: mar/pharmacy/urls.py)."""

from django.urls import path

from mar import care_views, views

app_name = "mar"

E = "encounters/<int:pk>/"

urlpatterns = [
    path("board/", views.board, name="board"),
    path(E, views.encounter_detail, name="encounter"),
    path(E + "checklist/", views.encounter_checklist, name="encounter_checklist"),
    path(E + "timeline/", views.encounter_timeline, name="encounter_timeline"),
    path(E + "charges/", views.encounter_charges, name="encounter_charges"),
    path(E + "times/", views.encounter_times, name="encounter_times"),
    path(E + "sign/", views.encounter_sign_view, name="encounter_sign"),
    path(E + "addendum/", views.addendum_view, name="addendum_add"),
    path(E + "sites/", views.site_place, name="site_place"),
    path(E + "sites/<int:site_pk>/", views.site_update, name="site_update"),
    path(E + "sites/<int:site_pk>/assess/", views.site_assess, name="site_assess"),
    path(E + "sites/<int:site_pk>/discontinue/", views.site_discontinue, name="site_discontinue"),
    path(E + "sites/<int:site_pk>/reopen/", views.site_reopen, name="site_reopen"),
    path(E + "sites/<int:site_pk>/flush/", views.site_flush, name="site_flush"),
    path(E + "flushes/<int:flush_pk>/remove/", views.flush_remove, name="flush_remove"),
    path(E + "orders/<int:order_pk>/start/", views.order_start, name="order_start"),
    path(
        E + "orders/<int:order_pk>/disposition/",
        views.order_disposition,
        name="order_disposition",
    ),
    path(E + "administrations/<int:adm_pk>/", views.administration_update, name="adm_update"),
    path(E + "administrations/<int:adm_pk>/pause/", views.administration_pause, name="adm_pause"),
    path(
        E + "administrations/<int:adm_pk>/resume/", views.administration_resume, name="adm_resume"
    ),
    path(E + "administrations/<int:adm_pk>/stop/", views.administration_stop, name="adm_stop"),
    path(E + "administrations/<int:adm_pk>/pauses/new/", views.pause_add, name="pause_add"),
    path(E + "pauses/<int:pause_pk>/", views.pause_update, name="pause_update"),
    # Issue 17: scanning, rates and volumes, measures, site details and condition.
    path("board/scan/", care_views.board_scan, name="board_scan"),
    path(E + "scan/", care_views.scan, name="scan"),
    path(E + "scans/<int:scan_pk>/override/", care_views.scan_override, name="scan_override"),
    path(E + "administrations/<int:adm_pk>/rate/", care_views.rate_change, name="adm_rate"),
    path(E + "rate-changes/<int:rate_pk>/", care_views.rate_change_update, name="rate_update"),
    path(
        E + "rate-changes/<int:rate_pk>/remove/",
        care_views.rate_change_remove,
        name="rate_remove",
    ),
    path(E + "administrations/<int:adm_pk>/volumes/", care_views.volumes, name="adm_volumes"),
    path(
        E + "administrations/<int:adm_pk>/remove/",
        care_views.administration_remove,
        name="adm_remove",
    ),
    path(E + "measures/", care_views.measure_add, name="measure_add"),
    path(E + "sites/<int:site_pk>/details/", care_views.site_details, name="site_details"),
    path(E + "sites/<int:site_pk>/condition/", care_views.site_condition, name="site_condition"),
]
