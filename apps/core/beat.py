"""Beat's scheduler: django-celery-beat's DatabaseScheduler that keeps what staff change.

The stock scheduler rewrites every job from ``app.conf.beat_schedule`` on each start, so an
interval staff changed in the admin silently returned to the code's value at the next
deploy. Here each job's row carries a fingerprint of what the code last wrote (in its
description). On start a job is (re)written from code when its row is missing or still
matches that fingerprint (so a changed default in code or in the environment applies); a
row whose schedule, task, arguments or queue staff edited is left as they set it. Pausing
(``enabled``) is never overwritten.

One beat, always: a second beat started by mistake (two hosts, a deploy overlapping the
old one) must not send every job twice. Each beat holds, or waits for, a database lock
(``GET_LOCK`` on MariaDB/MySQL/TiDB) on a connection of its own: the lock is the
connection's, so a beat that dies or loses its database hands it over at once, without a
lease to expire. A standby beat re-reads the schedule (with the leader's last run times,
saved every ``sync_every`` seconds) when it takes over. The embedded SQLite default runs
one beat under ``demo_run`` and takes no lock.
"""

import datetime
import hashlib
import logging
import re

from django.db import DatabaseError, connections
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


class LeaderLock:
    """A named MariaDB/MySQL lock held on a connection opened for it alone."""

    def __init__(self, alias: str = "default"):
        self.alias = alias
        self.connection = None
        database = connections[alias].settings_dict["NAME"]
        self.name = f"oms:beat:{database}"[:64]  # one leader per database; MySQL caps names at 64

    def applies(self) -> bool:
        return connections[self.alias].vendor == "mysql"

    def hold(self) -> bool:
        """True while this process holds the lock, taking it when it is free."""
        if not self.applies():
            return True
        try:
            if self.connection is None:
                self.connection = connections.create_connection(self.alias)
            with self.connection.cursor() as cursor:
                cursor.execute("SELECT IS_USED_LOCK(%s) = CONNECTION_ID()", [self.name])
                if cursor.fetchone()[0] == 1:
                    return True
                cursor.execute("SELECT GET_LOCK(%s, 0)", [self.name])
                return cursor.fetchone()[0] == 1
        except DatabaseError:
            logger.warning("beat: the leader lock is unreachable; standing by", exc_info=True)
            self.release()
            return False

    def release(self) -> None:
        if self.connection is not None:
            try:
                self.connection.close()
            except DatabaseError:
                logger.debug("beat: closing the lock connection failed", exc_info=True)
            self.connection = None


class DatabaseScheduler(_DatabaseScheduler):
    # Run times reach the database every few seconds, so a standby taking over knows them.
    sync_every = 5

    def __init__(self, *args, **kwargs):
        self.leader_lock = LeaderLock()
        self.leading = False
        super().__init__(*args, **kwargs)

    def tick(self, *args, **kwargs):
        if not self.leader_lock.hold():
            if self.leading:
                logger.warning("beat: lost the leader lock %s; standing by", self.leader_lock.name)
            self.leading = False
            return self.max_interval
        if not self.leading:
            logger.info("beat: holds the leader lock %s; sending jobs", self.leader_lock.name)
            self.leading = True
            # Forces a full re-read at the next look at the schedule: the previous leader's runs.
            self._last_full_sync = datetime.datetime.min
        return super().tick(*args, **kwargs)

    def close(self):
        super().close()
        self.leader_lock.release()

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
