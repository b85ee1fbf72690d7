"""Two fixes to moto 5.2.5 that a long-running embedded DynamoDB endpoint needs.

Why: moto is built for test cases that reset it every few requests. Left running as the local
stack's store, two of its habits made every request cost more than the one before and kept every
byte it ever held (measured: 120 MB -> 1.8 GB RSS over 128 `$submit`s, requests from 0.1 s to 1 s):

1. `DynamoDBBackend.transact_write_items` backs up, before it starts, a `copy.deepcopy` of the
   *whole table* once per item of the transaction (so that it can roll back a cancelled one).
   Cost and garbage grow with the table: about eight full-table copies per new case.
   Fix: back up only the items the transaction names, and on cancellation put exactly those back
   (and drop the stream records the cancelled writes appended). The table is no longer copied.
2. `BaseModel.__new__` appends every model instance (each Item, each stream record, each of those
   table copies) to a class-level `instances_tracked` list, for moto's dashboard; only
   `reset_model_data()` empties it, and nothing calls that in a server that is never reset.
   Fix: don't track.

Upstream, (1) would replace the whole-table snapshot inside `transact_write_items` with the
per-item backup `TouchedItems` below; (2) would make tracking a setting that moto's server turns
off. Here, so as not to copy moto's method, (1) wraps it: in moto's DynamoDB module a table's
"deep copy" is the table itself, and the wrapper restores the touched items when the original
raises. `apply()` refuses any other moto version: pyproject.toml pins the one these were tested
against, and tests/integration/test_embedded_store.py fails if either fix is removed.
"""
from __future__ import annotations

import copy
from typing import Any

MOTO_VERSION = "5.2.5"
_applied = False


def apply() -> None:
    """Install both fixes (idempotent). Call before the embedded endpoint serves a request."""
    global _applied
    import moto
    from moto.core.common_models import BaseModel
    from moto.dynamodb import models as dynamodb_models

    if _applied:
        return
    if moto.__version__ != MOTO_VERSION:
        raise RuntimeError(f"infra/local/moto_fixes.py is written for moto {MOTO_VERSION}, "
                           f"not {moto.__version__}: re-check both fixes, then update MOTO_VERSION")
    BaseModel.__new__ = staticmethod(_untracked_new)  # type: ignore[method-assign]
    # moto's rollback backs up tables with `copy.deepcopy(table)`; in its module, a table is now
    # "copied" by reference, and the wrapper below backs up and restores the touched items instead.
    dynamodb_models.copy = _TablesByReference  # type: ignore[attr-defined]
    backend = dynamodb_models.DynamoDBBackend
    backend.transact_write_items = _rolled_back_by_item(backend.transact_write_items)
    _applied = True


def _untracked_new(cls: type, *args: Any, **kwargs: Any) -> Any:
    from moto.core.common_models import BaseModel

    return super(BaseModel, cls).__new__(cls)  # what BaseModel.__new__ does, less the tracking


class _TablesByReference:
    """The `copy` module as moto.dynamodb.models sees it: a Table's deep copy is the table itself;
    anything else (an item before an update) is copied as before."""

    @staticmethod
    def deepcopy(value: Any, memo: dict | None = None) -> Any:
        from moto.dynamodb.models.table import Table

        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


def _rolled_back_by_item(transact_write_items: Any) -> Any:
    def transact_write_items_rolled_back_by_item(backend: Any, transact_items: list[dict]) -> None:
        backup = TouchedItems(backend, transact_items)
        try:
            transact_write_items(backend, transact_items)
        except BaseException:
            backup.restore()
            raise

    return transact_write_items_rolled_back_by_item


class TouchedItems:
    """The items a transaction names, as they were before it, and where each table's stream ended."""

    def __init__(self, backend: Any, transact_items: list[dict]):
        from moto.dynamodb.exceptions import ResourceNotFoundException
        from moto.dynamodb.models.dynamo_type import DynamoType

        self.items: list[tuple[Any, Any, Any, Any]] = []  # (table, hash, range, item or None)
        self.streams: dict[int, tuple[Any, int]] = {}
        for request in transact_items:
            try:
                op = next(iter(request.values()))
                table = backend.get_table(op["TableName"])  # a name or an ARN
                key = op["Item"] if "Item" in op else op["Key"]
                hash_key = DynamoType(key[table.hash_key_attr])
                range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
            except (AttributeError, KeyError, StopIteration, TypeError, ResourceNotFoundException):
                continue  # moto refuses this request itself before writing anything
            current = table.get_item(hash_key, range_key)
            self.items.append((table, hash_key, range_key, copy.deepcopy(current)))
            if table.stream_shard is not None:
                self.streams[id(table)] = (table.stream_shard, len(table.stream_shard.items))

    def restore(self) -> None:
        for table, hash_key, range_key, item in reversed(self.items):
            if range_key is None:
                holder, slot = table.items, hash_key
            else:
                holder, slot = table.items.setdefault(hash_key, {}), range_key
            if item is None:
                holder.pop(slot, None)
            else:
                holder[slot] = item
            if range_key is not None and not table.items[hash_key]:
                del table.items[hash_key]
        for shard, length in self.streams.values():
            del shard.items[length:]  # the cancelled writes' records, as if never written
