#!/bin/sh
# Beat role: exactly one per deployment. The schedule lives in code and is copied into the
# database (django-celery-beat), where staff can see, pause or retune each job.
set -eu
exec celery -A oms beat -l info
