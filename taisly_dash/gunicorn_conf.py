"""gunicorn's settings for production (the image's web command:
``gunicorn --config python:taisly_dash.gunicorn_conf``). Command-line flags still win.

Read from the environment: ``PORT`` (8000), ``WEB_WORKERS`` (2), ``WEB_THREADS`` (8),
``LOG_FORMAT`` and ``LOG_LEVEL`` (its own lines as the app's), ``PROMETHEUS_MULTIPROC_DIR``
(where the workers' request metrics meet; a fresh temporary directory when unset).
"""

import os

wsgi_app = "taisly_dash.wsgi"
bind = [f"0.0.0.0:{os.environ.get('PORT', '8000')}"]
worker_class = "gthread"
workers = int(os.environ.get("WEB_WORKERS", "2"))
threads = int(os.environ.get("WEB_THREADS", "8"))
# A large upload on a slow line takes minutes; the proxy in front limits the rest.
timeout = 600
# On SIGTERM (docker stop) requests in flight get this long to finish, inside Docker's 10 s.
graceful_timeout = 8
# An idle connection stays open longer than the proxy in front keeps one (nginx, AWS: 60 s), so
# the proxy closes it, never gunicorn while a request is on its way (its default 2 s lost some).
keepalive = 75
# No access log: a review link carries its token in the URL, and secrets are never logged.
# gunicorn 24+ opens a control socket under $HOME, which the image's user cannot write (and
# nothing here uses it).
control_socket_disable = True

# LOG_FORMAT=json: gunicorn's own lines as JSON objects too, like the app's (taisly_dash/logs.py).
if os.environ.get("LOG_FORMAT", "plain") == "json":
    from taisly_dash.logs import gunicorn_logging

    logconfig_dict = gunicorn_logging(
        log_format="json", level=os.environ.get("LOG_LEVEL", "INFO").upper()
    )


def on_starting(server) -> None:
    """Request metrics across the worker processes (prometheus_client's multiprocess mode):
    each worker writes its figures to files in one directory, which /metrics adds up. The
    directory is this master's (a fresh one, or PROMETHEUS_MULTIPROC_DIR emptied), and the
    workers inherit it before they import prometheus_client."""
    import pathlib
    import tempfile

    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        directory = pathlib.Path(given)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()
    else:
        directory = pathlib.Path(tempfile.mkdtemp(prefix="taisly-dash-metrics-"))
        _made_by_us.append(directory)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


_made_by_us: list = []


def on_exit(server) -> None:
    """The directory this master made goes with it (one it was given stays)."""
    import shutil

    for directory in _made_by_us:
        shutil.rmtree(directory, ignore_errors=True)


def child_exit(server, worker) -> None:
    """A worker that exits leaves its counts (they still count); its live gauges go."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
