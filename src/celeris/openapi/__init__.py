"""celeris.openapi: OpenAPI 3.1 from handler annotations, the offline docs UI, security schemes.

``install(app)`` serves ``/openapi.json`` and ``/docs``; ``document_of(app)`` returns the
document. Security schemes are dependencies (``Depends(HTTPBearer())``). The JWT helper and
``JWTBearer`` live in ``celeris.openapi.jwt`` (PyJWT, an optional extra).
"""

from celeris.openapi.endpoints import document_of, install
from celeris.openapi.generator import OpenAPIError, generate
from celeris.openapi.security import (
    APIKeyCookie,
    APIKeyHeader,
    APIKeyQuery,
    BasicCredentials,
    HTTPBasic,
    HTTPBearer,
    OAuth2PasswordBearer,
    SecurityScheme,
)

__all__ = [
    "APIKeyCookie",
    "APIKeyHeader",
    "APIKeyQuery",
    "BasicCredentials",
    "HTTPBasic",
    "HTTPBearer",
    "OAuth2PasswordBearer",
    "OpenAPIError",
    "SecurityScheme",
    "document_of",
    "generate",
    "install",
]
