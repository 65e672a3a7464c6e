"""`{{ order|allergy_warning }}`: the allergy of the order's patient that names its drug, as the
pharmacist's queue row and review page say it ("Allergy: penicillin (rash) matches
piperacillin-tazobactam (penicillin class)."), or "". The one matcher is
mar/services/safety.py's; the order needs its drug and encounter's patient loaded."""

from django import template

from mar.models import Order
from mar.services import safety

register = template.Library()


@register.filter
def allergy_warning(order: Order) -> str:
    return safety.allergy_warning(order.encounter.patient, order.drug)
