"""Prepare Django's side: its own tables (``migrate``) and the staff user of the run.

Run in the peer venv with the repository on ``PYTHONPATH``:
``python -m bench.admin.django_site.setup USERNAME PASSWORD``. Idempotent.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str]) -> int:
    username, password = argv
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.admin.django_site.settings")
    import django
    from django.core.management import call_command

    django.setup()
    from django.contrib.auth.models import User

    call_command("migrate", interactive=False, verbosity=0)
    user = User.objects.filter(username=username).first()
    if user is None:
        User.objects.create_superuser(username, f"{username}@example.com", password)
    elif not user.check_password(password):
        user.set_password(password)
        user.save()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
