"""celeris: one Python web framework, from one file to a full stack."""

from celeris.core import status
from celeris.core.app import App
from celeris.core.background import BackgroundTasks
from celeris.core.datastructures import UploadFile
from celeris.core.errors import (
    BadGateway,
    BadRequest,
    Conflict,
    Forbidden,
    GatewayTimeout,
    Gone,
    HTTPError,
    InternalServerError,
    LengthRequired,
    MethodNotAllowed,
    NotAcceptable,
    NotFound,
    NotImplementedHTTP,
    PayloadTooLarge,
    PreconditionFailed,
    RangeNotSatisfiable,
    RequestTimeout,
    RequestValidationError,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    UnprocessableEntity,
    UnsupportedMediaType,
)
from celeris.core.params import Body, Cookie, Depends, File, Form, Header, Path, Query
from celeris.core.pipeline import Step
from celeris.core.requests import Request
from celeris.core.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    ServerSentEvent,
    ServerSentEvents,
    StreamingResponse,
)
from celeris.core.routing import Router
from celeris.core.websocket import WebSocket, WebSocketDisconnect
from celeris.openapi.endpoints import install as _install_openapi

# NOTE: every App serves /openapi.json and /docs unless built with openapi_url=None.
App.extensions.append(_install_openapi)

__version__ = "0.1.0"

__all__ = [
    "App",
    "BackgroundTasks",
    "BadGateway",
    "BadRequest",
    "Body",
    "Conflict",
    "Cookie",
    "Depends",
    "File",
    "FileResponse",
    "Forbidden",
    "Form",
    "GatewayTimeout",
    "Gone",
    "HTMLResponse",
    "HTTPError",
    "Header",
    "InternalServerError",
    "JSONResponse",
    "LengthRequired",
    "MethodNotAllowed",
    "NotAcceptable",
    "NotFound",
    "NotImplementedHTTP",
    "Path",
    "PayloadTooLarge",
    "PlainTextResponse",
    "PreconditionFailed",
    "Query",
    "RangeNotSatisfiable",
    "RedirectResponse",
    "Request",
    "RequestTimeout",
    "RequestValidationError",
    "Response",
    "Router",
    "ServerSentEvent",
    "ServerSentEvents",
    "ServiceUnavailable",
    "Step",
    "StreamingResponse",
    "TooManyRequests",
    "Unauthorized",
    "UnprocessableEntity",
    "UnsupportedMediaType",
    "UploadFile",
    "WebSocket",
    "WebSocketDisconnect",
    "status",
]
