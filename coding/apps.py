from django.apps import AppConfig


class CodingConfig(AppConfig):
    name = "coding"
    verbose_name = "Charge coding"

    def ready(self) -> None:
        """Fill the record's port to coding. Coding listens to no signal: an addendum answers a
        coder's query through explicit calls (the port's `queries_answered`, the nurse's
        answer; `charge_run_store`, the change her addendum made: coding/review.py)."""
        import coding.tasks  # noqa: F401  (registers the tasks the outbox sends by name)
        from coding.ports import CodingChargesPort
        from mar.ports import charges_port_register

        charges_port_register(CodingChargesPort())
