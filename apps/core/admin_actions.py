"""What every app's admin actions share: who acts, and running a service per selected row."""

from django.contrib import messages

from apps.core.exceptions import ApplicationError


def admin_actor(request) -> str:
    """The actor services record for a staff member working in the admin."""
    return f"admin:{request.user.get_username()}"


def run_each(modeladmin, request, objects, call, done_message, warning=None) -> None:
    """Call ``call(obj)`` for each object; report successes once and each refusal as an error.

    ``warning(result)`` may return a message for a call that was accepted but did not get
    the object where the action promises (an order still out of stock stays on hold); it is
    shown as a warning and not counted as done.
    """
    done = 0
    for obj in objects:
        try:
            result = call(obj)
        except ApplicationError as exc:
            modeladmin.message_user(request, f"{obj}: {exc.message}", messages.ERROR)
            continue
        note = warning(result) if warning else None
        if note:
            modeladmin.message_user(request, note, messages.WARNING)
        else:
            done += 1
    if done:
        modeladmin.message_user(request, done_message % {"count": done}, messages.SUCCESS)
