"""`import celeris` loads no part of the battery; the battery loads its heavy parts when used."""

from __future__ import annotations

import json
import subprocess
import sys


def _modules_after(code: str) -> set[str]:
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    return set(json.loads(out))


def test_import_celeris_loads_no_auth() -> None:
    loaded = _modules_after("import celeris")
    for name in ("celeris.auth", "pwdlib", "argon2", "pyotp", "webauthn", "authlib", "zxcvbn"):
        assert name not in loaded


def test_auth_loads_passkeys_social_and_the_password_list_only_when_used() -> None:
    code = (
        "from celeris import App\n"
        "from celeris.auth import Auth\n"
        "from celeris.db import Database\n"
        "app = App()\n"
        "auth = Auth(app=app, db=Database('sqlite://', app=app), secret_key='k' * 40)\n"
        "app.include_router(auth.router)\n"
    )
    loaded = _modules_after(code)
    for name in ("webauthn", "authlib", "joserfc", "zxcvbn"):
        assert name not in loaded, name
    used = _modules_after(code + "auth.passkeys; auth.social\n")
    assert {"webauthn", "authlib", "joserfc"} <= used
