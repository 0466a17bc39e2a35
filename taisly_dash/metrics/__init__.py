"""Metrics for Prometheus at ``/metrics``, answered only with ``METRICS_TOKEN`` (``views.py``).

- ``requests.py``: requests and their latency by view, counted in each web process (across
  gunicorn's workers through prometheus_client's multiprocess mode, set up in
  ``taisly_dash/gunicorn_conf.py``);
- ``database.py``: everything else, read from the database at scrape time in a fixed number of
  queries whatever the number of rows, so the workers (which serve no HTTP) need no exporter and
  every web process answers the same.
"""
