"""Test settings: fast password hashing, eager Celery, everything else as in production."""

from .base import *  # noqa: F403
from .base import CELERY_BROKER_URL

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
if CELERY_BROKER_URL.startswith("filesystem:"):
    CELERY_BROKER_URL = "memory://"  # a test that queues for real has no worker on files
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not memory: the voice worker that call tests run in a thread of their own works
    # on the database with connections of its own, which an in-memory database cannot share.
    VAR_DIR.mkdir(exist_ok=True)  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}  # noqa: F405
