"""celeris.auth: users, passwords, sessions sign-in, permissions and tokens (``celeris[auth]``).

```python
from celeris.auth import Auth, User

auth = Auth(app=app, db=db)                 # after Sessions(app=app)
app.include_router(auth.router)             # /auth/signup, /auth/login, /auth/password/...

@app.get("/me")
async def me(user: User = Depends(auth.current_user)) -> dict: ...
```
"""

from celeris.auth.apitokens import CachedToken, PersonalTokens
from celeris.auth.emails import EmailInvalid, normalize_email
from celeris.auth.errors import PasskeyError, SignupError, SocialLoginError
from celeris.auth.manager import Auth, SignIn
from celeris.auth.models import (
    ApiToken,
    Device,
    Group,
    Passkey,
    RecoveryCode,
    SocialAccount,
    TOTPDevice,
    User,
    UserMixin,
)
from celeris.auth.passwords import MAX_PASSWORD_BYTES, PasswordHasher, PasswordTooLong
from celeris.auth.tokens import TokenSigner
from celeris.auth.validators import (
    DEFAULT_VALIDATORS,
    PasswordInvalid,
    common_password,
    minimum_length,
    similar_to_email,
    validate_password,
)

__all__ = [
    "DEFAULT_VALIDATORS",
    "MAX_PASSWORD_BYTES",
    "ApiToken",
    "Auth",
    "CachedToken",
    "Device",
    "EmailInvalid",
    "Group",
    "Passkey",
    "PasskeyError",
    "PasswordHasher",
    "PasswordInvalid",
    "PasswordTooLong",
    "PersonalTokens",
    "RecoveryCode",
    "SignIn",
    "SignupError",
    "SocialAccount",
    "SocialLoginError",
    "TOTPDevice",
    "TokenSigner",
    "User",
    "UserMixin",
    "common_password",
    "minimum_length",
    "normalize_email",
    "similar_to_email",
    "validate_password",
]
