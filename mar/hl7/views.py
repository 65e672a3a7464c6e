"""The interface log screen: HL7 messages received, their outcome and errors; reprocess a
failed one after a fix (admins)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from mar.hl7.inbound import message_reprocess
from mar.models import InterfaceMessage
from mar.roles import ADMIN, role_required


@require_GET
@role_required(ADMIN)
def message_list(request: HttpRequest) -> HttpResponse:
    outcome = request.GET.get("outcome", "")
    found = InterfaceMessage.objects.select_related("patient").order_by("-received_at", "-pk")
    if outcome in InterfaceMessage.Outcome.values:
        found = found.filter(outcome=outcome)
    page = Paginator(found, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "hl7/messages.html",
        {"page": page, "outcome": outcome, "outcomes": InterfaceMessage.Outcome.choices},
    )


@require_GET
@role_required(ADMIN)
def message_detail(request: HttpRequest, pk: int) -> HttpResponse:
    message = get_object_or_404(InterfaceMessage.objects.select_related("patient"), pk=pk)
    return render(
        request,
        "hl7/message.html",
        {"message": message, "segments": message.raw.split("\r"), "ack": message.ack.split("\r")},
    )


@require_POST
@role_required(ADMIN)
def message_reprocess_view(request: HttpRequest, pk: int) -> HttpResponse:
    message = get_object_or_404(InterfaceMessage, pk=pk)
    try:
        message = message_reprocess(message=message, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        if message.outcome == InterfaceMessage.Outcome.ACCEPTED:
            messages.success(request, "Processed: accepted.")
        else:
            messages.error(request, f"Still failing: {message.error_text}")
    return redirect("hl7:message", pk=message.pk)
