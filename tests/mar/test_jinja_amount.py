"""The `amount` filter: a stored amount as written (QA: the coder's record table read the dose
as "3.3750 g", the database's four places)."""

from decimal import Decimal

import pytest

from mar.jinja import amount, jinja


@pytest.mark.parametrize(
    ("stored", "said"),
    [(Decimal("3.3750"), "3.375"), (Decimal("50.0000"), "50"), (Decimal("0.0010"), "0.001"),
     (None, ""), (8, "8")],
)  # fmt: skip
def test_an_amount_is_written_without_the_stored_places(stored, said) -> None:
    assert amount(stored) == said


def test_the_filter_is_in_the_templates_environment() -> None:
    rendered = jinja().from_string("{{ v|amount }} g").render(v=Decimal("3.3750"))
    assert rendered == "3.375 g"
