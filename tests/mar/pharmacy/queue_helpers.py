"""What the pharmacist's order queue tests read of a page, and a record signed under an order."""

from mar.models import Encounter, Order


def sign(order: Order) -> None:
    Encounter.objects.filter(pk=order.encounter_id).update(status=Encounter.Status.SIGNED)


def row_of(html: str, order: Order) -> str:
    """The order's first row on the page."""
    start = html.index(f'<tr id="order-{order.pk}"')
    return html[start:].split("</tr>", 1)[0]


def section(html: str, testid: str) -> str:
    start = html.index(f'data-testid="{testid}"')
    return html[start:].split("</tbody>", 1)[0]
