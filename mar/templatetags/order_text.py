"""`{{ order|order_run }}`: how long or how fast the order runs, as the clerk or the ordering
system gave it ('over 60 min', 'at 125 mL/h', both, or ''), in the words of the chart's row
(mar/services/safety.py `order_run_text`): the pharmacist's queue row and review page show it
beside the dose, so that the order is verified as the nurse will give it."""

from django import template

from mar.models import Order
from mar.services import safety

register = template.Library()


@register.filter
def order_run(order: Order) -> str:
    return safety.order_run_text(order)
