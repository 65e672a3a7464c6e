"""The interface log (namespace `hl7`)."""

from django.urls import path

from mar.hl7 import views

app_name = "hl7"

urlpatterns = [
    path("", views.message_list, name="messages"),
    path("<int:pk>/", views.message_detail, name="message"),
    path("<int:pk>/reprocess/", views.message_reprocess_view, name="reprocess"),
]
