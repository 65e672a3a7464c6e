"""`{{ order|order_run }}`: how long or how fast the order runs, as the clerk or the ordering
system gave it ('over 60 min', 'at 125 mL/h', both, or ''), in the words of the chart's row
(mar/services/safety.py `order_run_text`): the pharmacist's queue row and review page show it
beside the dose, so that the order is verified as the nurse will give it.
`{{ order.dose|dose_shown }}`: a dose as every screen shows it, per m² with its superscript
(`mar.dosing.dose_shown`; the Jinja templates have the same filter, mar/jinja.py)."""

from django import template

from mar import dosing
from mar.models import Order
from mar.services import safety

register = template.Library()


@register.filter
def order_run(order: Order) -> str:
    return safety.order_run_text(order)


@register.filter
def dose_shown(text: object) -> str:
    return dosing.dose_shown(text)
