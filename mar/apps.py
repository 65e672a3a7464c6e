from django.apps import AppConfig


class MarConfig(AppConfig):
    name = "mar"
    verbose_name = "Medication administration record"
