"""Beat's scheduler: django-celery-beat's DatabaseScheduler that keeps what staff change.

The stock scheduler rewrites every job from ``app.conf.beat_schedule`` on each start, so an
interval staff changed in the admin silently returned to the code's value at the next
deploy. Here each job's row carries a fingerprint of what the code last wrote (in its
description). On start a job is (re)written from code when its row is missing or still
matches that fingerprint (so a changed default in code or in the environment applies); a
row whose schedule, task, arguments or queue staff edited is left as they set it. Pausing
(``enabled``) is never overwritten.
"""

import hashlib
import logging
import re

from django.utils.translation import gettext
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler as _DatabaseScheduler

logger = logging.getLogger(__name__)

_FINGERPRINT = re.compile(r"\[code:([0-9a-f]{12})\]$")


def row_fingerprint(task: PeriodicTask) -> str:
    """What staff can change about a job: task, schedule, arguments and queue."""
    parts = (task.task, repr(task.schedule), task.args, task.kwargs, task.queue or "")
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:12]


def edited_by_staff(task: PeriodicTask) -> bool:
    """A row without a fingerprint predates this scheduler: the code owned it, as before."""
    match = _FINGERPRINT.search(task.description or "")
    return match is not None and match.group(1) != row_fingerprint(task)


class DatabaseScheduler(_DatabaseScheduler):
    def setup_schedule(self):
        self.install_default_entries(self.schedule)
        code = dict(self.app.conf.beat_schedule)
        rows = {t.name: t for t in PeriodicTask.objects.filter(name__in=list(code))}
        kept = {name for name, row in rows.items() if edited_by_staff(row)}
        for name in sorted(kept):
            logger.info("beat: %s was changed in the admin; keeping it", name)
        self.update_from_dict({name: entry for name, entry in code.items() if name not in kept})
        for task in PeriodicTask.objects.filter(name__in=[name for name in code if name not in kept]):
            description = gettext("Defined in code; changes made here are kept.")
            PeriodicTask.objects.filter(pk=task.pk).update(description=f"{description} [code:{row_fingerprint(task)}]")
