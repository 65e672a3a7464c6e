import os

from django.core.wsgi import get_wsgi_application

from config.gc_tuning import tune

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()
tune()  # the loaded app's objects out of the collector's walks (config/gc_tuning.py)
