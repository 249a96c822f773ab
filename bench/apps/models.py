"""The request model of the POST test, as a msgspec Struct for contenders without their own."""

from __future__ import annotations

from typing import Annotated

import msgspec


class User(msgspec.Struct):
    """A user: the validated body of ``POST /users``."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=50)]
    age: Annotated[int, msgspec.Meta(ge=0, le=150)]
    email: Annotated[str, msgspec.Meta(pattern=r"^[^@\s]+@[^@\s]+$")]


USER_DECODER = msgspec.json.Decoder(User)
