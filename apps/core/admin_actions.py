"""What every app's admin actions share: who acts, the form page that asks for input, and
running a service per selected row."""

from django.contrib import messages
from django.template.response import TemplateResponse

from apps.core.exceptions import ApplicationError


def admin_actor(request) -> str:
    """The actor services record for a staff member working in the admin."""
    return f"admin:{request.user.get_username()}"


def run_each(modeladmin, request, objects, call, done_message, warning=None, label=str) -> None:
    """Call ``call(obj)`` for each object; report successes once and each refusal as an error.

    ``warning(result)`` may return a message for a call that was accepted but did not get
    the object where the action promises (an order still out of stock stays on hold); it is
    shown as a warning and not counted as done. ``label(obj)`` names the object in messages.
    """
    done = 0
    for obj in objects:
        try:
            result = call(obj)
        except ApplicationError as exc:
            modeladmin.message_user(request, f"{label(obj)}: {exc.message}", messages.ERROR)
            continue
        note = warning(result) if warning else None
        if note:
            modeladmin.message_user(request, note, messages.WARNING)
        else:
            done += 1
    if done:
        modeladmin.message_user(request, done_message % {"count": done}, messages.SUCCESS)


def action_form(modeladmin, request, queryset, form_class, title):
    """The intermediate page of an action that needs input: returns ``(valid bound form,
    None)`` on submit, or ``(None, response)`` showing the form (first visit, or errors)."""
    if "apply" in request.POST:
        form = form_class(request.POST)
        if form.is_valid():
            return form, None
    else:
        form = form_class()
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "form": form,
        "objects": queryset,
        "action": request.POST.get("action", ""),
        "opts": modeladmin.model._meta,
    }
    return None, TemplateResponse(request, "admin/oms/action_form.html", context)
