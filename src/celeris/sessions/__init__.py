"""celeris.sessions: sessions and flash messages (extra ``celeris[sessions]``).

```python
from celeris.sessions import Sessions, flash

Sessions(app=app)                          # signed cookie (itsdangerous) by default
Sessions(app=app, url="redis://...")       # server side: only a signed id in the cookie
request.session["cart"] = [1, 2]
flash(request, "Saved", category="success")
```
"""

from celeris.sessions.base import SessionStore, StoreUnavailable
from celeris.sessions.cookie import MAX_COOKIE_SIZE, SessionTooLarge, SignedCookie
from celeris.sessions.flash import flash, get_flashed_messages
from celeris.sessions.manager import Sessions
from celeris.sessions.session import Session

__all__ = [
    "MAX_COOKIE_SIZE",
    "Session",
    "SessionStore",
    "SessionTooLarge",
    "Sessions",
    "SignedCookie",
    "StoreUnavailable",
    "flash",
    "get_flashed_messages",
]
