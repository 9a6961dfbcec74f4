#!/bin/sh
# Worker role: consumes every queue a task names unless CELERY_QUEUES picks some.
set -eu
if [ -n "${CELERY_QUEUES:-}" ]; then
    exec celery -A oms worker -l info -c "${CELERY_CONCURRENCY:-4}" -Q "$CELERY_QUEUES"
fi
exec celery -A oms worker -l info -c "${CELERY_CONCURRENCY:-4}"
