from django.urls import path

from coding import views

app_name = "coding"

urlpatterns = [
    path("worklist/", views.worklist, name="worklist"),
    path("encounters/<int:pk>/", views.encounter_charges, name="encounter_charges"),
]
