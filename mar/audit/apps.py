from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "mar.audit"
    label = "audit"  # the tables and migrations keep their names
    verbose_name = "Audit trail"

    def ready(self) -> None:
        from mar.audit import signals  # noqa: F401  (login failures, task context)
