"""gunicorn's settings for production (the image's web command:
``gunicorn --config python:taisly_dash.gunicorn_conf``). Command-line flags still win.

Read from the environment: ``PORT`` (8000), ``WEB_WORKERS`` (2), ``WEB_THREADS`` (8).
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
# No access log: a review link carries its token in the URL, and secrets are never logged.
# gunicorn 24+ opens a control socket under $HOME, which the image's user cannot write (and
# nothing here uses it).
control_socket_disable = True
