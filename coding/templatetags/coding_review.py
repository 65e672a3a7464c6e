"""Template tags for other screens that show the coders' work (the nurse's chart)."""

from django import template

from coding.models import DocumentationQuery
from coding.review import open_queries as _open_queries

register = template.Library()


@register.simple_tag
def open_queries(encounter: object) -> list[DocumentationQuery]:
    """The encounter's unanswered documentation queries, oldest first (one query)."""
    pk = getattr(encounter, "pk", None)
    return [] if pk is None else _open_queries(pk)
