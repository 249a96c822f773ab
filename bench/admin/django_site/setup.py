"""Prepare Django's side: its own tables (``migrate``) and the staff user of the run.

Run in the peer venv with the repository on ``PYTHONPATH``:
``python -m bench.admin.django_site.setup COUNT PASSWORD``: superusers ``staff1`` ...
``staffCOUNT`` (one per browser, as on celeris's side), made if missing. Idempotent.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str]) -> int:
    count, password = int(argv[0]), argv[1]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.admin.django_site.settings")
    import django
    from django.core.management import call_command

    django.setup()
    from django.contrib.auth.models import User

    call_command("migrate", interactive=False, verbosity=0)
    existing = set(User.objects.values_list("username", flat=True))
    for number in range(1, count + 1):
        name = f"staff{number}"
        if name not in existing:
            User.objects.create_superuser(name, f"{name}@example.com", password)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
