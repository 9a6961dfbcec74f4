#!/bin/sh
# Web role: apply migrations, collect static files, serve with gunicorn.
set -eu
python manage.py migrate --no-input
python manage.py collectstatic --no-input -v0
exec gunicorn oms.wsgi:application \
    --bind "0.0.0.0:${PORT:-8000}" \
    --workers "${WEB_CONCURRENCY:-4}" \
    --timeout "${GUNICORN_TIMEOUT:-60}" \
    --access-logfile - \
    --forwarded-allow-ips "*"
