"""A secret value whose every accidental rendering is a mask.

`repr`, `str`, `format` (f-strings, %-formatting, logging) all give `Secret(****)`; pickling and
copying into JSON fail loudly; only `reveal()` returns the value, so every use is greppable.
"""

from __future__ import annotations

import hmac
from typing import Any, NoReturn

MASK = "Secret(****)"


class Secret:
    __slots__ = ("_value",)

    _value: str

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret wraps a str")
        object.__setattr__(self, "_value", value)

    def reveal(self) -> str:
        """The value. Call it only where the value is used (injection, the vault), never to log."""
        return self._value

    def __repr__(self) -> str:
        return MASK

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return MASK

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    # Unhashable: a hash would be a cheap oracle for the value.
    __hash__ = None  # type: ignore[assignment]

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError("Secret is immutable")

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled")

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        raise TypeError("a Secret cannot be pickled")

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self
