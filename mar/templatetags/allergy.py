"""`{{ order|allergy_warning }}`: the allergy of the order's patient that names its drug, as the
pharmacist's queue row and review page say it ("Allergy: penicillin (rash) matches
piperacillin-tazobactam (penicillin class)."; a cross-sensitivity "Cross-sensitivity: patient
allergic to penicillin class; ceftriaxone is a cephalosporin — low but real cross-reactivity."),
or "". The one matcher is mar/services/safety.py's; the order needs its drug and encounter's
patient loaded. `{{ order|allergy_warning:request }}`: the formulary as allergies name it
(`safety.AllergyNames`, "amoxicillin" a penicillin) read once for the request however many rows
it draws (kept on the request); without the request, once for the row.
`{{ warning|allergy_cross }}`: the warning is a cross-sensitivity only (the lower severity's
colour and words); `{{ override|override_stage }}`: where an allergy override was
made ('at order entry', 'at verification', 'at a start').
`{{ patient|allergies_class }}`: how every screen shows the patient's allergies (with
`patient.allergies_said`): an allergy red and bold, none known neutral, not recorded greyed."""

from django import template
from django.http import HttpRequest

from mar.models import Order, Patient, SafetyOverride
from mar.services import safety

register = template.Library()
_NAMES = "_allergy_names"


def request_allergy_names(request: HttpRequest | None) -> safety.AllergyNames:
    """The request's one `safety.AllergyNames` (a new one without a request)."""
    names = getattr(request, _NAMES, None)
    if names is None:
        names = safety.AllergyNames()
        if request is not None:
            setattr(request, _NAMES, names)
    return names


@register.filter
def allergy_warning(order: Order, request: HttpRequest | None = None) -> str:
    names = request_allergy_names(request or None)
    return safety.allergy_warning(order.encounter.patient, order.drug, names)


@register.filter
def allergy_cross(warning: str) -> bool:
    return safety.allergy_cross_only(warning)


@register.filter
def override_stage(override: SafetyOverride) -> str:
    return safety.override_stage(override)


_ALLERGIES_CLASS = {
    Patient.AllergiesState.RECORDED: "allergies-recorded text-danger fw-semibold",
    Patient.AllergiesState.NONE_KNOWN: "allergies-none-known",
    Patient.AllergiesState.NOT_RECORDED: "allergies-not-recorded text-body-secondary",
}


@register.filter
def allergies_class(patient: Patient) -> str:
    """The classes the patient's allergies are shown with, on every screen that shows them."""
    return _ALLERGIES_CLASS[Patient.AllergiesState(patient.allergies_state)]
