#!/bin/sh
# Web role: apply migrations, collect static files, create the search index if Elasticsearch
# is configured and the index does not exist yet, then serve with gunicorn.
set -eu
python manage.py migrate --no-input
python manage.py collectstatic --no-input -v0
if [ -n "${ELASTICSEARCH_URL:-}" ]; then
    # Searches fall back to the database while Elasticsearch is unreachable, so serving does
    # not wait for it: /readyz reports search as degraded until `search_index --rebuild` runs.
    python manage.py search_index --create-if-missing \
        || echo "start-web: could not create the search index; run manage.py search_index --rebuild" >&2
fi
exec gunicorn oms.wsgi:application \
    --bind "0.0.0.0:${PORT:-8000}" \
    --workers "${WEB_CONCURRENCY:-2}" \
    --worker-class "${WEB_WORKER_CLASS:-gthread}" \
    --threads "${WEB_THREADS:-8}" \
    --timeout "${GUNICORN_TIMEOUT:-60}" \
    --access-logfile - \
    --forwarded-allow-ips "*"
