"""Built-in pure-ASGI middleware; each works on any ASGI 3 app and with ``app.add_middleware``."""

from celeris.middleware.cors import CORSMiddleware
from celeris.middleware.gzip import GZipMiddleware
from celeris.middleware.request_id import RequestIDMiddleware
from celeris.middleware.trusted_host import TrustedHostMiddleware

__all__ = ["CORSMiddleware", "GZipMiddleware", "RequestIDMiddleware", "TrustedHostMiddleware"]
