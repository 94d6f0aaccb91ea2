# The production image of web, worker and beat (compose.yaml): the runtime lock only, with hashes.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DEBUG=false
WORKDIR /app

RUN apt-get update \
    && apt-get install -y --no-install-recommends gettext \
    && rm -rf /var/lib/apt/lists/*
COPY requirements/runtime.txt requirements/runtime.txt
RUN pip install --no-cache-dir --require-hashes -r requirements/runtime.txt

COPY . .
# Translations and static files are built into the image; the key only lets settings load here.
RUN SECRET_KEY=build-only-not-used-at-run-time-0123456789abcdefghijklmnop \
    python manage.py compilemessages --ignore=.venv --verbosity 0 \
    && SECRET_KEY=build-only-not-used-at-run-time-0123456789abcdefghijklmnop \
    python manage.py collectstatic --noinput --verbosity 0 \
    && useradd --system --home-dir /app app && chown -R app /app/var
USER app

EXPOSE 8000
CMD ["gunicorn", "config.wsgi"]
