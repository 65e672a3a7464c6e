from django.urls import path

from mar import views

app_name = "mar"

urlpatterns = [
    path("board/", views.board, name="board"),
    path("encounters/<int:pk>/", views.encounter_detail, name="encounter"),
    path("encounters/<int:pk>/sign/", views.encounter_sign_view, name="encounter_sign"),
]
