"""celeris.security: CSRF, security headers and rate limits (extra ``celeris[security]``).

```python
from celeris.security import CSRF, RateLimiter, SecurityHeaders

CSRF(app=app)                                  # Fetch Metadata / Origin, tokens as fallback
SecurityHeaders(app=app, csp=DEFAULT_CSP)      # nosniff, DENY, COOP, HSTS on HTTPS, CSP nonce
limiter = RateLimiter(app=app)                 # memory; RATELIMIT_URL=redis://... for many workers

@app.post("/login")
@limiter.limit("5/minute")
async def login(...): ...
```
"""

from celeris.security.csrf import CSRF, CSRFError, csrf_input, csrf_token
from celeris.security.headers import DEFAULT_CSP, SecurityHeaders
from celeris.security.ratelimit import Limit, RateLimiter

__all__ = [
    "CSRF",
    "DEFAULT_CSP",
    "CSRFError",
    "Limit",
    "RateLimiter",
    "SecurityHeaders",
    "csrf_input",
    "csrf_token",
]
