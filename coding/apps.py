from django.apps import AppConfig
from django.db.models.signals import post_save


class CodingConfig(AppConfig):
    name = "coding"
    verbose_name = "Charge coding"

    def ready(self) -> None:
        """Fill the record's port to coding, and answer coders' queries when an addendum comes."""
        import coding.tasks  # noqa: F401  (registers the tasks the outbox sends by name)
        from coding.ports import CodingChargesPort
        from coding.review import queries_answer_on_addendum
        from mar.models import Addendum
        from mar.ports import charges_port_register

        charges_port_register(CodingChargesPort())
        # The one reaction of coding to the record (however an addendum is stored: the chart,
        # the admin): an addendum answers the coders' open queries on its encounter.
        post_save.connect(
            queries_answer_on_addendum, sender=Addendum, dispatch_uid="coding_queries_answer"
        )
