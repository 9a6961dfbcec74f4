#!/bin/sh
# Worker role: consumes every queue a task names unless CELERY_QUEUES picks some.
# Without gossip and mingle (worker-to-worker chatter the OMS does not use): on a broker outage
# the gossip step fails to close its channel inside kombu's Redis transport (AttributeError on
# a connection already gone), which can take the worker down instead of letting it reconnect.
set -eu
if [ -n "${CELERY_QUEUES:-}" ]; then
    exec celery -A oms worker -l info -c "${CELERY_CONCURRENCY:-4}" --without-gossip --without-mingle -Q "$CELERY_QUEUES"
fi
exec celery -A oms worker -l info -c "${CELERY_CONCURRENCY:-4}" --without-gossip --without-mingle
