from django.urls import path

from mar import formulary_views, views

app_name = "mar"

urlpatterns = [
    path("board/", views.board, name="board"),
    path("encounters/<int:pk>/", views.encounter_detail, name="encounter"),
    path("encounters/<int:pk>/sign/", views.encounter_sign_view, name="encounter_sign"),
    path("formulary/", formulary_views.formulary_worklist, name="formulary_worklist"),
]
