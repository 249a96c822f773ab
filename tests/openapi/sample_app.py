"""A small API exercising every feature the spec describes (tests, browser test, schemathesis)."""

from __future__ import annotations

import dataclasses
import enum
from typing import Annotated, Generic, Literal, TypedDict, TypeVar

import msgspec
import pydantic

from celeris import (
    App,
    Body,
    Conflict,
    Depends,
    Form,
    Header,
    NotFound,
    Query,
    Router,
    Unauthorized,
    UploadFile,
)
from celeris.openapi.endpoints import install
from celeris.openapi.jwt import JWT, InvalidToken, JWTBearer
from celeris.openapi.security import (
    APIKeyCookie,
    APIKeyHeader,
    APIKeyQuery,
    BasicCredentials,
    HTTPBasic,
    HTTPBearer,
    OAuth2PasswordBearer,
)

T = TypeVar("T")
API_KEY = "key-123"
BEARER = "token-123"
USERS = {"alice": "wonderland"}
SECRET = "a-test-secret-that-is-long-enough-for-hs256"
tokens = JWT(SECRET)


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Item(msgspec.Struct):
    """An item for sale."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=50)]
    price: Annotated[float, msgspec.Meta(gt=0, le=1_000_000)]
    color: Color = Color.RED


class StoredItem(msgspec.Struct):
    id: int
    name: str
    price: float
    color: Color


class Page(msgspec.Struct, Generic[T]):
    items: list[T]
    total: int


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Movie(TypedDict):
    title: str
    year: int


class Cat(msgspec.Struct, tag="cat"):
    lives: Annotated[int, msgspec.Meta(ge=0, le=9)]


class Dog(msgspec.Struct, tag="dog"):
    good: bool


class User(pydantic.BaseModel):
    name: Annotated[str, pydantic.Field(min_length=1, max_length=20)]
    age: Annotated[int, pydantic.Field(ge=0, le=150)]


class PublicUser(pydantic.BaseModel):
    name: str


app = App(title="Sample API", version="1.2.3", description="Everything the spec can say.")
items = Router(prefix="/items", tags=["items"])
ITEMS: dict[int, StoredItem] = {1: StoredItem(1, "hammer", 9.5, Color.RED)}

bearer = HTTPBearer(description="Any token")
basic = HTTPBasic(realm="sample")
key_header = APIKeyHeader("X-API-Key")
key_query = APIKeyQuery("api_key")
key_cookie = APIKeyCookie("session")
oauth2 = OAuth2PasswordBearer("/token", scopes={"read": "Read things"})
jwt_bearer = JWTBearer(tokens, scheme_name="JWT")


@items.get("/", response_model=Page[StoredItem])
async def list_items(
    limit: Annotated[int, Query(description="How many to return"), msgspec.Meta(ge=1, le=100)] = 10,
    color: Color | None = None,
) -> Page[StoredItem]:
    """List items.

    Filter by color, page with ``limit``.
    """
    found = [i for i in ITEMS.values() if color is None or i.color == color][:limit]
    return Page(items=found, total=len(found))


@items.get("/{item_id}", responses={404: NotFound})
async def read_item(item_id: int) -> StoredItem:
    """Read one item."""
    item = ITEMS.get(item_id)
    if item is None:
        raise NotFound(f"No item {item_id}")
    return item


@items.post("/", status_code=201, responses={409: Conflict})
async def create_item(item: Item, token: Annotated[str, Depends(bearer)]) -> StoredItem:
    """Create an item (needs a bearer token)."""
    if token != BEARER:
        raise Unauthorized("Unknown token", headers={"WWW-Authenticate": "Bearer"})
    if any(i.name == item.name for i in ITEMS.values()):
        raise Conflict(f"An item named {item.name!r} exists")
    stored = StoredItem(len(ITEMS) + 1, item.name, item.price, item.color)
    return stored


@items.delete("/{item_id:int}", deprecated=True, operation_id="remove_item")
async def delete_item(item_id: int, key: Annotated[str, Depends(key_header)]) -> None:
    """Delete an item (deprecated)."""
    if key != API_KEY:
        raise Unauthorized("Unknown API key", headers={"WWW-Authenticate": "APIKey"})


@app.post("/shapes")
async def shape(shape: Annotated[Cat | Dog, Body()]) -> dict[str, str]:
    """Tell a cat from a dog."""
    return {"kind": type(shape).__name__.lower()}


@app.post("/points")
async def point(p: Point) -> Point:
    return p


@app.post("/movies")
async def movie(m: Movie) -> Movie:
    return m


@app.post("/users", responses={409: Conflict})
async def create_user(user: User) -> PublicUser:
    """Create a user; the age is not echoed back."""
    return PublicUser(name=user.name)


@app.get("/whoami")
async def whoami(credentials: Annotated[BasicCredentials, Depends(basic)]) -> dict[str, str]:
    if USERS.get(credentials.username) != credentials.password:
        raise Unauthorized("Wrong user or password", headers={"WWW-Authenticate": "Basic"})
    return {"user": credentials.username}


@app.get("/keys")
async def keys(
    q: Annotated[str, Depends(key_query)], c: Annotated[str, Depends(key_cookie)]
) -> dict[str, str]:
    if q != API_KEY or c != API_KEY:
        raise Unauthorized("Unknown API key", headers={"WWW-Authenticate": "APIKey"})
    return {"query": q, "cookie": c}


@app.post("/token")
async def token(
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
) -> dict[str, str]:
    """Issue a token (the password flow's token URL)."""
    return {"access_token": tokens.encode({"sub": username}), "token_type": "bearer"}


@app.get("/me")
async def me(claims: Annotated[dict, Depends(jwt_bearer)]) -> dict[str, str]:
    return {"sub": str(claims["sub"])}


@app.get("/scoped")
async def scoped(token: Annotated[str, Depends(oauth2)]) -> str:
    try:
        tokens.decode(token)
    except InvalidToken as exc:
        raise Unauthorized(str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
    return "ok"


@app.post("/upload")
async def upload(file: UploadFile, note: Annotated[str, Form()] = "") -> dict[str, int | str]:
    """Upload a file with a note."""
    return {"size": len(await file.read()), "note": note}


@app.get("/agent")
async def agent(
    user_agent: Annotated[str | None, Header()] = None,
    mode: Literal["short", "long"] = "short",
) -> str:
    return (user_agent or "")[: 5 if mode == "short" else 100]


@app.get("/hidden", include_in_schema=False)
async def hidden() -> str:
    return "hidden"


app.include_router(items)
install(app)


async def plain_asgi(scope: object, receive: object, send: object) -> None:
    """An ASGI app that is not a celeris App (for the CLI's error path)."""
