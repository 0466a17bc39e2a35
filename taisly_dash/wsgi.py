import os

from django.core.wsgi import get_wsgi_application

from taisly_dash.wsgi_input import buffered_input

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taisly_dash.settings")
# Video uploads are read straight from the socket under gunicorn (see wsgi_input.py).
application = buffered_input(get_wsgi_application())
