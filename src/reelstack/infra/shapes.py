"""Response models from values we already trust, at the cost of a dict.

`BaseModel.model_construct` walks every field in Python (aliases, defaults) on each call; a feed
page builds a hundred models, and that walk was ~7 % of a For-You page under load. `built`
takes the values of every field, no more and no fewer, and sets them as they are. Like
`model_construct` it does not validate: the values come from our own columns, and tests turn
pydantic's serializer warnings (a value of the wrong type) into errors."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)
_FIELDS: dict[type[BaseModel], frozenset[str]] = {}


def _fields_of(cls: type[BaseModel]) -> frozenset[str]:
    names = _FIELDS.get(cls)
    if names is None:
        plain = (
            not cls.__pydantic_root_model__
            and cls.__pydantic_post_init__ is None
            and not cls.__private_attributes__
            and cls.model_config.get("extra") != "allow"
        )
        if not plain:
            raise TypeError(f"{cls.__name__}: only plain models can be built from their fields")
        names = _FIELDS[cls] = frozenset(cls.model_fields)
    return names


def built(cls: type[M], values: dict[str, Any]) -> M:
    """`cls.model_construct(**values)`, for `values` naming each of the model's fields; the
    model keeps `values` as its `__dict__`, so the caller must not use the dict after."""
    names = _fields_of(cls)
    if values.keys() != names:
        wrong = sorted(names ^ values.keys())
        raise TypeError(f"{cls.__name__}: fields missing or unknown: {', '.join(wrong)}")
    model = cls.__new__(cls)
    object.__setattr__(model, "__dict__", values)
    object.__setattr__(model, "__pydantic_fields_set__", set(names))
    object.__setattr__(model, "__pydantic_extra__", None)
    object.__setattr__(model, "__pydantic_private__", None)
    return model
