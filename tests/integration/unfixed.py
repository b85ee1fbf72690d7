"""moto as it answers without infra/local/moto_fixes.py's wrappers (3, 4 and 5), for comparison:
each wrapper keeps moto's own method as `__wrapped__`."""
from __future__ import annotations

from contextlib import contextmanager

from moto.core.serialize import BaseJSONSerializer
from moto.dynamodb.models.dynamo_type import Item
from moto.dynamodb.models.table import Table

WRAPPED = [(Table, "query"), (Item, "project"), (BaseJSONSerializer, "_serialize_type_structure")]


def fixed() -> bool:
    """True while the endpoint runs the fixes (so that a comparison with moto alone proves something)."""
    return all(hasattr(getattr(owner, name), "__wrapped__") for owner, name in WRAPPED)


@contextmanager
def moto_alone():
    """moto's own methods, for the duration."""
    kept = [getattr(owner, name) for owner, name in WRAPPED]
    for (owner, name), method in zip(WRAPPED, kept):
        setattr(owner, name, method.__wrapped__)
    try:
        yield
    finally:
        for (owner, name), method in zip(WRAPPED, kept):
            setattr(owner, name, method)
