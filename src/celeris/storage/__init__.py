"""The storage battery: ``Storage(app=app)``; ``file://./media`` by default, S3 by URL."""

from celeris.storage.errors import InvalidName, MissingFile, StorageConfigError, StorageUnavailable
from celeris.storage.health import Health, check
from celeris.storage.names import clean_name
from celeris.storage.storage import FileInfo, Storage, resolve_url

__all__ = [
    "FileInfo",
    "Health",
    "InvalidName",
    "MissingFile",
    "Storage",
    "StorageConfigError",
    "StorageUnavailable",
    "check",
    "clean_name",
    "resolve_url",
]
