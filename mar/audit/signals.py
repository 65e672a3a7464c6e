"""Signal receivers: failed and successful sign-ins (lockout), and the history context of tasks."""

from __future__ import annotations

from typing import Any

from celery import signals as celery_signals
from django.contrib.auth import signals as auth_signals
from django.dispatch import receiver

from mar.audit.context import history_context
from mar.audit.lockout import (
    ClientAddressUnknown,
    client_ip,
    login_failure_record,
    login_failures_clear,
)


@receiver(auth_signals.user_login_failed, dispatch_uid="audit_login_failed")
def _login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **_: Any) -> None:
    # The lockout backend recorded the attempt before the password was checked; only a failure
    # it did not see (no username, another backend's caller) is recorded here.
    username = credentials.get("username")
    if not (isinstance(username, str) and username) or hasattr(request, "_lockout_attempt"):
        return
    try:
        login_failure_record(username=username, ip=client_ip(request))
    except ClientAddressUnknown:
        pass  # refused before any password was checked: nothing to count


@receiver(auth_signals.user_logged_in, dispatch_uid="audit_logged_in")
def _logged_in(sender: Any, request: Any, user: Any, **_: Any) -> None:
    if request is None:
        return
    attempt = getattr(request, "_lockout_attempt", None)
    if attempt is not None:
        attempt.delete()
    try:
        login_failures_clear(username=user.get_username(), ip=client_ip(request))
    except ClientAddressUnknown:
        pass


_task_contexts: dict[str, Any] = {}


@celery_signals.task_prerun.connect(dispatch_uid="audit_task_prerun")
def _task_prerun(task_id: str, task: Any, **_: Any) -> None:
    # Rows a task writes are attributed to the task in the history (no user).
    ctx = history_context(task=task.name, task_id=task_id)
    ctx.__enter__()
    _task_contexts[task_id] = ctx


@celery_signals.task_postrun.connect(dispatch_uid="audit_task_postrun")
def _task_postrun(task_id: str, **_: Any) -> None:
    ctx = _task_contexts.pop(task_id, None)
    if ctx is not None:
        ctx.__exit__(None, None, None)
