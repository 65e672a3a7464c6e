"""The pharmacist's pages: untagged drugs first, then the formulary."""

from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from mar.models import Drug
from mar.roles import PHARMACIST, role_required


@require_GET
@role_required(PHARMACIST)
def formulary_worklist(request: HttpRequest) -> HttpResponse:
    drugs = Drug.objects.annotate(order_count=Count("orders")).order_by("name")
    untagged = [drug for drug in drugs if drug.drug_class is None]
    return render(request, "mar/formulary_worklist.html", {"untagged": untagged, "drugs": drugs})
