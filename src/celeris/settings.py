"""``Settings``: typed application settings from keyword arguments, the environment and ``.env``.

Built on msgspec (already a core dependency) for the conversions and python-dotenv (the
``celeris[settings]`` extra) for reading ``.env`` files; ``import celeris`` imports neither.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import sys
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import msgspec

try:
    import dotenv
except ImportError:  # pragma: no cover - the settings extra is not installed
    dotenv = None  # type: ignore[assignment]

__all__ = [
    "Secret",
    "Settings",
    "SettingsError",
    "app_setting",
    "battery_database",
    "caller_root",
    "dev_secret_key",
    "is_secret_name",
    "secret_key_of",
]

logger = logging.getLogger("celeris.settings")

MASK = "**********"
_SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|KEY|CREDENTIAL", re.I)
_URL_PASSWORD = re.compile(r"^([a-z][a-z0-9+.-]*://[^:/@]*:)([^@]*)(@)", re.I)
_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f"}
_MISSING: Any = object()


class Secret(str):
    """A ``str`` whose ``repr`` is masked: use it to type a setting whose name does not say so."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"


class SettingsError(ValueError):
    """One or more settings are missing or invalid; ``errors`` maps each key to what is wrong."""

    def __init__(self, cls_name: str, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        count = len(self.errors)
        lines = "\n".join(f"  {key}: {message}" for key, message in self.errors.items())
        noun = "setting is" if count == 1 else "settings are"
        super().__init__(f"{count} {noun} missing or invalid in {cls_name}:\n{lines}")


def is_secret_name(name: str) -> bool:
    """Tell whether a setting's name marks it as a secret (SECRET, PASSWORD, TOKEN, KEY...)."""
    return _SECRET_NAME.search(name) is not None


def mask(name: str, value: Any) -> Any:
    """Return ``value`` fit for a log line: secrets masked, passwords in URLs masked."""
    if value is None:
        return None
    if isinstance(value, Secret) or is_secret_name(name):
        return MASK
    if isinstance(value, str):
        return _URL_PASSWORD.sub(rf"\1{MASK}\3", value)
    return value


def dev_secret_key(root: str | os.PathLike[str] | None = None) -> str:
    """Return the development SECRET_KEY kept in ``<root>/.celeris/secret_key``, made once."""
    folder = Path(root if root is not None else os.getcwd()) / ".celeris"
    path = folder / "secret_key"
    try:
        key = path.read_text().strip()
    except FileNotFoundError:
        key = ""
    if key:
        return key
    folder.mkdir(parents=True, exist_ok=True)
    ignore = folder / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# made by celeris: development state, never commit it\n*\n")
    key = secrets.token_urlsafe(48)
    # SECURITY: the key is readable by its owner only.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(key + "\n")
    logger.warning("generated a development SECRET_KEY in %s (set a real one in production)", path)
    return key


def _debug_from_env(environ: Mapping[str, str]) -> bool:
    return environ.get("CELERIS_DEBUG", "").strip().lower() in _TRUE


def _members(tp: Any) -> tuple[Any, ...]:
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        return typing.get_args(tp)
    return (tp,)


def _unsecret(tp: Any) -> tuple[Any, bool]:
    """Return ``tp`` with ``Secret`` read as ``str``, and whether it named ``Secret``."""
    members = _members(tp)
    if Secret not in members:
        return tp, False
    plain = tuple(str if m is Secret else m for m in members)
    return (plain[0] if len(plain) == 1 else typing.Union[plain]), True  # noqa: UP007


def _is_collection(tp: Any) -> bool:
    return any(
        typing.get_origin(m) in (list, set, frozenset, tuple) or m in (list, set, frozenset, tuple)
        for m in _members(tp)
    )


def _from_env(raw: str, tp: Any) -> Any:
    """Convert an environment string to ``tp``: scalars directly, containers from JSON or CSV."""
    members = _members(tp)
    if raw == "" and type(None) in members:
        return None
    if str in members:
        return raw
    stripped = raw.strip()
    if bool in members and stripped.lower() in _TRUE | _FALSE:
        return stripped.lower() in _TRUE
    if stripped[:1] in ("[", "{") or stripped in ("null", "true", "false"):
        try:
            return msgspec.convert(msgspec.json.decode(stripped), tp, strict=False)
        except msgspec.DecodeError:
            pass
    if _is_collection(tp):
        items = [item.strip() for item in raw.split(",") if item.strip()]
        return msgspec.convert(items, tp, strict=False)
    return msgspec.convert(stripped, tp, strict=False)


class Settings:
    """Typed settings: declare annotated attributes, read them from kwargs, env and ``.env``.

    Precedence: keyword arguments, then the environment (``env_prefix`` + name), then the
    ``.env`` file, then the class default. Every missing or invalid key is reported at once.
    """

    #: prefix of the environment variables (``"MYAPP_"`` reads ``MYAPP_DEBUG`` for ``DEBUG``)
    env_prefix: ClassVar[str] = ""
    #: the dotenv file read, relative to the working directory; None reads none
    env_file: ClassVar[str | None] = ".env"

    _fields: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        hints = typing.get_type_hints(cls)
        cls._fields = {
            name: tp
            for name, tp in hints.items()
            if not name.startswith("_")
            and typing.get_origin(tp) is not ClassVar
            and name not in ("env_prefix", "env_file")
        }

    def __init__(
        self,
        *,
        _env_file: str | os.PathLike[str] | None = _MISSING,
        _environ: Mapping[str, str] | None = None,
        **values: Any,
    ) -> None:
        fields = type(self)._fields
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise TypeError(f"{type(self).__name__} has no setting(s) {', '.join(unknown)}")
        environ = os.environ if _environ is None else _environ
        env_file = type(self).env_file if _env_file is _MISSING else _env_file
        file_values = self._read_env_file(env_file)
        prefix = type(self).env_prefix
        errors: dict[str, str] = {}
        for name, tp in fields.items():
            plain, secret = _unsecret(tp)
            key = prefix + name
            try:
                if name in values:
                    value = msgspec.convert(values[name], plain, strict=False)
                elif key in environ:
                    value = _from_env(environ[key], plain)
                elif key in file_values:
                    value = _from_env(file_values[key], plain)
                elif _has_default(type(self), name):
                    value = getattr(type(self), name)
                else:
                    value = _MISSING
            except msgspec.ValidationError as exc:
                shown = mask(name, values.get(name, environ.get(key, file_values.get(key))))
                errors[key] = f"{exc} (got {shown!r})"
                continue
            if value is _MISSING:
                errors[key] = "missing: set it in the environment or the .env file"
                continue
            if secret and isinstance(value, str):
                value = Secret(value)
            object.__setattr__(self, name, value)
        key = prefix + "SECRET_KEY"
        if key in errors and errors[key].startswith("missing") and self._is_development(environ):
            # NOTE: development only (DEBUG=True or `celeris run`): one key, kept across runs.
            del errors[key]
            object.__setattr__(self, "SECRET_KEY", dev_secret_key())
        if errors:
            raise SettingsError(type(self).__name__, errors)

    def _is_development(self, environ: Mapping[str, str]) -> bool:
        return getattr(self, "DEBUG", False) is True or _debug_from_env(environ)

    @staticmethod
    def _read_env_file(env_file: str | os.PathLike[str] | None) -> dict[str, str]:
        if env_file is None or not Path(env_file).is_file():
            return {}
        if dotenv is None:
            raise RuntimeError(
                f"reading {os.fspath(env_file)} needs python-dotenv: pip install 'celeris[settings]'"
            )
        return {k: v for k, v in dotenv.dotenv_values(env_file).items() if v is not None}

    def as_dict(self, *, reveal: bool = False) -> dict[str, Any]:
        """Return every setting; secrets are masked unless ``reveal=True``."""
        names = type(self)._fields
        if reveal:
            return {name: getattr(self, name) for name in names}
        return {name: mask(name, getattr(self, name)) for name in names}

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in self.as_dict().items())
        return f"{type(self).__name__}({shown})"

    __str__ = __repr__


def _has_default(cls: type, name: str) -> bool:
    return any(name in klass.__dict__ for klass in cls.__mro__ if klass is not object)


# --- what batteries read from an app ---------------------------------------------------


def app_setting(app: Any, *names: str) -> Any:
    """Return the first of ``names`` set in the app's settings, then in the environment."""
    settings = getattr(app, "settings", None)
    for name in names:
        value = getattr(settings, name, None) if settings is not None else None
        if value:
            return value
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def secret_key_of(app: Any, secret_key: str | bytes | None, what: str) -> str | bytes:
    """Return the signing key: the argument, SECRET_KEY, or a development key in debug."""
    key = secret_key or app_setting(app, "SECRET_KEY")
    if key:
        return key
    if getattr(app, "debug", False) or os.environ.get("CELERIS_DEBUG") == "1":
        return dev_secret_key()
    raise RuntimeError(
        f"{what} needs a SECRET_KEY (settings.E001): pass secret_key=, set SECRET_KEY in the "
        "app's settings or the environment, or run with debug=True for a development key"
    )


def caller_root() -> Path:
    """Return the folder of the module that called the caller (a battery's constructor).

    The default ``root_path`` of a battery: where the app that made it lives, else the current
    directory (a module without ``__file__``, such as the REPL).
    """
    frame = sys._getframe(2)
    filename = frame.f_globals.get("__file__")
    return Path(filename).resolve().parent if filename else Path.cwd()


def battery_database(
    battery: str,
    url: str | None,
    *,
    app: Any,
    database: Any,
    root_path: Path,
    metadata: Callable[[], Any],
    error: Callable[[str], Exception],
) -> tuple[Any, bool]:
    """Return the ``celeris.db`` Database a battery keeps its records in, and whether it owns it.

    ``url`` when given; else ``database``, else the app's (``app.state.database``), else
    ``<battery>.db`` (SQLite) in ``root_path``. Without the extra, ``error`` gets
    ``<battery>.E001`` and the command that installs it.
    """
    if url is None:
        found = database
        if found is None and app is not None:
            found = getattr(app.state, "database", None)
        if found is not None:
            return found, False
        url = f"sqlite:///{root_path / f'{battery}.db'}"
    try:
        # NOTE: imported here: SQLAlchemy is an extra, and `import celeris` must not load it.
        from celeris.db import Database
    except ImportError as missing:
        raise error(
            f"{battery}.E001: {battery} on {url.partition(':')[0]}:// need pip install "
            f"'celeris[{battery}]' ({missing})"
        ) from None
    own = Database(url, metadata=metadata(), migrate_on_startup=False, root_path=root_path)
    return own, True
