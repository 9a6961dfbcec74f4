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
# Bind, workers, timeout and request-size limits: docker/gunicorn.conf.py (the benchmarks name
# a config of their own that adds to it).
exec gunicorn oms.wsgi:application --config "${GUNICORN_CONFIG:-docker/gunicorn.conf.py}"
