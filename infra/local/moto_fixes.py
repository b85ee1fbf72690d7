"""Seven fixes to moto 5.2.5 that a long-running embedded DynamoDB endpoint needs.

Why: moto is built for test cases that reset it every few requests. Left running as the local
stack's store, two of its habits made every request cost more than the one before and kept every
byte it ever held (measured: 120 MB -> 1.8 GB RSS over 128 `$submit`s, requests from 0.1 s to 1 s),
a third made every Query cost in proportion to the table, and two more made each item of a
Query page cost many times what it should:

1. `DynamoDBBackend.transact_write_items` backs up, before it starts, a `copy.deepcopy` of the
   *whole table* once per item of the transaction (so that it can roll back a cancelled one).
   Cost and garbage grow with the table: about eight full-table copies per new case.
   Fix: back up only the items the transaction names, and on cancellation put exactly those back
   (and drop the stream records the cancelled writes appended). The table is no longer copied.
2. `BaseModel.__new__` appends every model instance (each Item, each stream record, each of those
   table copies) to a class-level `instances_tracked` list, for moto's dashboard; only
   `reset_model_data()` empties it, and nothing calls that in a server that is never reset.
   Fix: don't track.
3. `Table.query` finds a query's items by sorting every item of the table (`all_items()`) and
   keeping those of the asked partition, for an index (then sorting those in index order) and for
   the table alike. A first worklist page of 50 cost what the table costs to sort.
   Fix: keep, for each index of a table, every partition's items (moto's own objects) in the order
   moto's Query returns them, with bisect over key tuples. An index Query's page is then walked
   here as moto's loop walks it (`IndexOrder.page`: the start key, the range condition, `Limit`,
   the 1 MB stop) over only the items it reaches, and finished as moto finishes it (`_answered`:
   projection, filter, ProjectionExpression), without moto's sort and its deep copy of the page
   (an INCLUDE or KEYS_ONLY projection builds new items). A Query on the table itself is answered
   by moto, shown its one partition. The orders are kept where moto writes an item:
   `Table.put_item` and `Table.delete_item` (every put and delete goes through them: PutItem,
   BatchWriteItem, transactions, PartiQL, imports, UpdateItem of a new item),
   `DynamoDBBackend.update_item` (the one place an item is changed in place) and
   `TouchedItems.restore` below. A table's orders are built at its first write (empty, for a new
   table: a restart's journal replay builds them as it goes), for a restored table or a new index
   when first needed, again when an index's definition changes, and if ever found out of step they
   are dropped, to be rebuilt at the next Query.
4. `Item.project` (an index's projection, a ProjectionExpression) converts the *whole* item to
   plain Python once per projected attribute: a page of 50 summaries of a 15-attribute case
   converted 700 attributes' worth per item.
   Fix: take only the projected attributes, once each: strings and booleans as they are (boto3's
   round trip gives them back unchanged), every other value through the same round trip as
   `Item.project`; and skip the item size check that re-sums the whole item at each attribute (a
   projection is part of an item moto already holds within its size). Nested paths and names with
   moto's list syntax (`a[1]`) go to moto's own method.
5. moto answers every JSON request through a generic serializer that walks botocore's model for
   each value: an AttributeValue (a union of ten members) costs ten member lookups through its
   alias providers, at every level of every item. It was more than half the cost of a Query page.
   Fix: an AttributeValue whose one member is one of the ten is written directly, as the generic
   walk writes it (strings and booleans as they are, blobs base64, maps and lists member by
   member); anything else (a None, two members, an unknown one, a map key "") still takes the
   generic walk.
6. A table's stream keeps every record ever written (DynamoDB drops them after 24 hours), each
   with the item's whole new image, and every GetRecords leaves behind a new shard iterator (472
   random bytes) in a dict nothing empties: the local stack's Pipe polls several times a second.
   Fix: an iterator is forgotten once read (every reader reads the one the answer names next, as
   on DynamoDB), and a read drops the records every reader of the shard has passed (before the
   slowest live iterator). Two stacks in one process share moto's backends, and so a table's stream.
7. SQS `ReceiveMessage` checks each message it hands out against the queue's retention period by
   asking for the queue's attributes, and moto builds all of them for that (three of which count
   every message of the queue): a receive of 10 from a queue of n messages walked 30n messages
   (a third of the delivery worker's time with 400 deliveries queued).
   Fix: the check reads the one attribute it needs.

Upstream, (1) would replace the whole-table snapshot inside `transact_write_items` with the
per-item backup `TouchedItems` below; (2) would make tracking a setting that moto's server turns
off; (3) would keep items per partition in index order inside `Table`; (4) and (5) would be moto's
own methods. Here, so as not to copy moto's methods, they wrap them: in moto's DynamoDB module a
table's "deep copy" is the table itself, and the wrapper restores the touched items when the
original raises; (3), (4) and (5) keep moto's own method as `__wrapped__`, and fall back to it for
anything they do not work out. `apply()` refuses any other moto version: pyproject.toml pins the
one these were tested against. tests/integration/test_embedded_store.py fails if (1) or (2) is
removed; tests/integration/test_moto_index_fix.py if (3) is, and test_moto_item_fixes.py if the
answers of (3), (4) and (5) ever differ from moto's alone, byte for byte.
"""
from __future__ import annotations

import copy
import functools
import logging
import re
from bisect import bisect_left, bisect_right
from operator import itemgetter
import time
from typing import Any, Iterable

MOTO_VERSION = "5.2.5"
_applied = False
ORDERS = "_claimbridge_index_orders"  # where a moto Table keeps its IndexOrders (fix 3)
# moto refuses an item whose attributes pass this size (LimitedSizeDict); a Query page stops at 1 MB.
ITEM_SIZE_LIMIT = 405_000
RESULT_SIZE_LIMIT = 1_000_000
ORDERED_TYPES = frozenset({"S", "N"})  # key types whose values order as moto compares them

logger = logging.getLogger("claimbridge.embedded")


def apply() -> None:
    """Install the seven fixes (idempotent). Call before the embedded endpoint serves a request."""
    global _applied
    import moto
    from moto.core.common_models import BaseModel
    from moto.dynamodb import models as dynamodb_models
    from moto.core.serialize import BaseJSONSerializer
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import Table
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend
    from moto.sqs.models import SQSBackend

    if _applied:
        return
    if moto.__version__ != MOTO_VERSION:
        raise RuntimeError(f"infra/local/moto_fixes.py is written for moto {MOTO_VERSION}, "
                           f"not {moto.__version__}: re-check the fixes, then update MOTO_VERSION")
    BaseModel.__new__ = staticmethod(_untracked_new)  # type: ignore[method-assign]
    # moto's rollback backs up tables with `copy.deepcopy(table)`; in its module, a table is now
    # "copied" by reference, and the wrapper below backs up and restores the touched items instead.
    dynamodb_models.copy = _TablesByReference  # type: ignore[attr-defined]
    backend = dynamodb_models.DynamoDBBackend
    backend.transact_write_items = _rolled_back_by_item(backend.transact_write_items)
    Table.put_item = _reordered_after_put(Table.put_item)  # type: ignore[method-assign]
    Table.delete_item = _reordered_after_delete(Table.delete_item)  # type: ignore[method-assign]
    backend.update_item = _reordered_after_update(backend.update_item)  # type: ignore[method-assign]
    Table.query = _query_shown_reachable_items(Table.query)  # type: ignore[method-assign]
    Item.project = _projected_once(Item.project)  # type: ignore[method-assign]
    BaseJSONSerializer._serialize_type_structure = _attribute_values_written_directly(  # type: ignore[method-assign]
        BaseJSONSerializer._serialize_type_structure)
    DynamoDBStreamsBackend.get_records = _read_records_dropped(DynamoDBStreamsBackend.get_records)  # type: ignore[method-assign]
    SQSBackend.is_message_valid_based_on_retention_period = _retained  # type: ignore[method-assign]
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
            reorder(table, hash_key, range_key)
        for shard, length in self.streams.values():
            del shard.items[length:]  # the cancelled writes' records, as if never written


# Fix 3: index orders.

class TableOrders:
    """A table's IndexOrders by index name, and the item dict they were built from.

    On a moto Table as `ORDERS`: absent until the table's first write, None once dropped.
    """

    def __init__(self, table: Any):
        self.items = table.items  # moto replaces it only when it restores a table: then they are rebuilt
        self.indexes: dict[str, IndexOrder] = {}

    def __deepcopy__(self, memo: dict) -> None:
        return None  # a backup's copy of the table builds its own if it is ever queried


class IndexOrder:
    """One index of one table: per index hash value, its items in moto's Query order, with their keys.

    `attrs` are the attributes moto's Query sorts an index by (its hash key, its range key, the
    table's keys: `Table._generate_attr_to_sort_by`); an item's key is the tuple of their values,
    unique since it holds the table's key. An item belongs to the index when it has every attribute
    of the index's schema, as moto's Query decides. Keys hold values (str or Decimal), not moto's
    DynamoTypes, which an update may change in place.
    """

    def __init__(self, shape: tuple, items: Iterable[Any]):
        self.shape = shape
        self.hash_attr, self.range_attr, self.attrs, self.types = shape
        self.partitions: dict[Any, tuple[list[tuple], list[Any]]] = {}
        self.placed: dict[tuple, tuple] = {}  # table key (hash, range DynamoTypes) -> index key
        # Items whose index range key (or a table key) has another type than declared: moto would
        # compare them with the others, and may raise; while there are any, moto answers alone.
        self.misfits: set[tuple] = set()
        by_partition: dict[Any, list[tuple[tuple, Any]]] = {}
        for item in items:
            table_key = (item.hash_key, item.range_key)
            key = self.key_of(item)
            if key is _MISFIT:
                self.misfits.add(table_key)
            elif key is not None:
                by_partition.setdefault(key[0], []).append((key, item))
                self.placed[table_key] = key
        for hash_value, members in by_partition.items():
            members.sort(key=itemgetter(0))
            self.partitions[hash_value] = ([key for key, _ in members], [item for _, item in members])

    def key_of(self, item: Any) -> Any:
        """The item's key in this index; None if it is not in it (or can never match a query that
        comes here: a hash value of another type); _MISFIT if moto would still order it."""
        values = item.attrs
        if self.hash_attr not in values or (self.range_attr is not None and self.range_attr not in values):
            return None
        if values[self.hash_attr].type != self.types[0]:
            return None
        key = []
        for attr, declared in zip(self.attrs, self.types):
            value = values.get(attr)
            if value is None or value.type != declared:
                return _MISFIT
            key.append(value.cast_value)
        return tuple(key)

    def place(self, table_key: tuple, item: Any) -> None:
        """The item now at this table key (None: no item) takes the place of what was there."""
        old = self.placed.pop(table_key, None)
        if old is not None:
            keys, items = self.partitions[old[0]]
            i = bisect_left(keys, old)
            if i == len(keys) or keys[i] != old:
                raise LookupError(f"an item of the index is not where it was put: {old}")
            del keys[i], items[i]
            if not keys:
                del self.partitions[old[0]]
        self.misfits.discard(table_key)
        key = None if item is None else self.key_of(item)
        if key is _MISFIT:
            self.misfits.add(table_key)
        elif key is not None:
            keys, items = self.partitions.setdefault(key[0], ([], []))
            i = bisect_left(keys, key)
            keys.insert(i, key)
            items.insert(i, item)
            self.placed[table_key] = key

    def page(self, hash_value: Any, range_comparison: str | None, range_values: list,
             limit: int | None, exclusive_start_key: dict | None, forward: bool) -> tuple[list, bool]:
        """The items moto's Query loop takes for this page, in its order, and whether it stops early
        (the page then has a LastEvaluatedKey). Raises _NotHere for a query not worked out here
        (moto then looks at the whole table, as it always did).

        moto's loop skips what comes before the start key, then takes the items that pass the range
        condition until it has `limit` of them or the next would take the page past 1 MB; it stops
        at that item. Items in index order that fail the range condition before the passing ones
        change nothing (none is 1 MB alone); after the passing ones, moto goes on over the failing
        ones, and stops at the first it meets with `limit` taken, or that the 1 MB check refuses.
        """
        from moto.dynamodb.models.dynamo_type import DynamoType

        if hash_value.type != self.types[0]:
            raise _NotHere
        keys, items = self.partitions.get(hash_value.cast_value, ((), ()))
        lo, hi = self.range_span(keys, range_comparison, range_values)
        if exclusive_start_key is not None:
            start = []
            for attr, declared in zip(self.attrs, self.types):
                value = DynamoType(exclusive_start_key[attr])
                if value.type != declared:
                    raise _NotHere
                start.append(value.cast_value)
            if forward:
                lo = max(lo, bisect_right(keys, tuple(start)))
            else:
                hi = min(hi, bisect_left(keys, tuple(start)))
        taken: list = []
        size = 0
        for at in range(lo, len(keys)) if forward else range(hi - 1, -1, -1):
            matches = lo <= at < hi
            if not matches and (limit is None or len(taken) < limit) and size + ITEM_SIZE_LIMIT <= RESULT_SIZE_LIMIT:
                break  # past the passing items, and none of the failing ones can stop moto
            item_size = items[at].size()
            if len(taken) == limit or size + item_size > RESULT_SIZE_LIMIT:
                return taken, True
            if matches:
                taken.append(items[at])
                size += item_size
        return taken, False

    def range_span(self, keys: Any, comparison: str | None, values: list) -> tuple[int, int]:
        """[lo, hi): the items of a partition whose range key passes moto's range comparison."""
        if comparison is None:
            return 0, len(keys)
        if self.range_attr is None or any(v.type != self.types[1] for v in values):
            raise _NotHere
        bounds = [v.cast_value for v in values]
        by_range = itemgetter(1)

        def first_at_least(value: Any) -> int:
            return bisect_left(keys, value, key=by_range)

        def first_above(value: Any) -> int:
            return bisect_right(keys, value, key=by_range)

        if comparison == "BETWEEN" and len(bounds) == 2:
            lo = first_at_least(bounds[0])
            return lo, max(lo, first_above(bounds[1]))
        if len(bounds) != 1:
            raise _NotHere
        bound = bounds[0]
        if comparison == "=":
            return first_at_least(bound), first_above(bound)
        if comparison == "<":
            return 0, first_at_least(bound)
        if comparison == "<=":
            return 0, first_above(bound)
        if comparison == ">":
            return first_above(bound), len(keys)
        if comparison == ">=":
            return first_at_least(bound), len(keys)
        if comparison == "BEGINS_WITH" and self.types[1] == "S":
            lo = first_at_least(bound)  # the strings with this prefix follow it, together
            return lo, bisect_left(keys, True, lo=lo, key=lambda key: not key[1].startswith(bound))
        raise _NotHere


_MISFIT = object()
_UNBUILT = object()


class _NotHere(Exception):
    """A query moto answers alone, looking at the whole table."""


def index_shape(table: Any, index: Any) -> tuple | None:
    """(hash attr, range attr or None, sort attrs, their declared types) as moto's Query orders the
    index; None for what is not kept here (multi-attribute keys, keys not of type S or N)."""
    from moto.dynamodb.models.table import GlobalSecondaryIndex

    hashes = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
    ranges = [k["AttributeName"] for k in index.schema if k["KeyType"] == "RANGE"]
    if len(hashes) != 1 or len(ranges) > 1:
        return None
    if ranges:
        order_range = ranges[0]
    elif isinstance(index, GlobalSecondaryIndex) and table.range_key_attr:
        order_range = table.range_key_attr
    else:
        order_range = table.hash_key_attr
    attrs = tuple(table._generate_attr_to_sort_by([hashes[0], table.hash_key_attr],
                                                  [order_range, table.range_key_attr]))
    declared = {a["AttributeName"]: a["AttributeType"] for a in table.attr}
    types = tuple(declared.get(attr) for attr in attrs)
    if attrs[0] != hashes[0] or (ranges and attrs[1] != ranges[0]) or not ORDERED_TYPES.issuperset(types):
        return None
    return hashes[0], (ranges[0] if ranges else None), attrs, types


def table_orders(table: Any) -> TableOrders:
    """The table's orders, one per index kept here; what is missing or stale is built from its items."""
    orders = table.__dict__.get(ORDERS)
    if orders is None or orders.items is not table.items:
        orders = table.__dict__[ORDERS] = TableOrders(table)
    kept = {}
    for index in table.all_indexes():
        shape = index_shape(table, index)
        if shape is not None:
            order = orders.indexes.get(index.name)
            kept[index.name] = order if order is not None and order.shape == shape \
                else IndexOrder(shape, _every_item(table))
    orders.indexes = kept
    return orders


def _every_item(table: Any) -> Any:
    for held in table.items.values():
        if table.range_key_attr:
            yield from held.values()
        else:
            yield held


def reorder(table: Any, hash_key: Any, range_key: Any) -> None:
    """After moto has (or may have) written this table key: every index order takes what is there now."""
    orders = table.__dict__.get(ORDERS, _UNBUILT)
    if orders is None:
        return  # dropped: the next Query builds them again
    try:
        if orders is _UNBUILT or orders.items is not table.items:
            if table.all_indexes():
                table_orders(table)  # from the table's items, this write among them
            return
        if table.range_key_attr and range_key is None:
            raise LookupError("a whole partition was written")  # moto's delete_item without a range key
        held = table.items.get(hash_key)
        item = held.get(range_key) if held is not None and table.range_key_attr else held
        for order in orders.indexes.values():
            order.place((hash_key, range_key), item)
    except Exception:  # never fail the write, nor rebuild at each one
        logger.warning("index orders of table %s dropped until its next Query", table.name, exc_info=True)
        table.__dict__[ORDERS] = None


def _table_key(table: Any, attrs: Any) -> tuple[Any, Any] | None:
    from moto.dynamodb.models.dynamo_type import DynamoType

    try:
        hash_key = DynamoType(attrs[table.hash_key_attr])
        range_key = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
    except (AttributeError, KeyError, TypeError, IndexError):
        return None  # moto refuses the request before it writes
    if hash_key.type != table.hash_key_type or (range_key is not None and range_key.type != table.range_key_type):
        return None  # and this one
    return hash_key, range_key


def _reordered_after_put(put_item: Any) -> Any:
    @functools.wraps(put_item)
    def put_item_reordered(table: Any, item_attrs: dict, *args: Any, **kwargs: Any) -> Any:
        try:
            return put_item(table, item_attrs, *args, **kwargs)
        finally:
            key = _table_key(table, item_attrs)
            if key is not None:
                reorder(table, *key)

    return put_item_reordered


def _reordered_after_delete(delete_item: Any) -> Any:
    @functools.wraps(delete_item)
    def delete_item_reordered(table: Any, hash_key: Any, range_key: Any) -> Any:
        try:
            return delete_item(table, hash_key, range_key)
        finally:
            reorder(table, hash_key, range_key)

    return delete_item_reordered


def _reordered_after_update(update_item: Any) -> Any:
    @functools.wraps(update_item)
    def update_item_reordered(backend: Any, table_name: str, key: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return update_item(backend, table_name, key, *args, **kwargs)
        finally:
            _reorder_updated(backend, table_name, key)

    return update_item_reordered


def _reorder_updated(backend: Any, table_name: str, key: Any) -> None:
    """The table key moto's update_item changes in place, found as it finds it."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    try:
        table = backend.get_table(table_name)
    except Exception:
        return  # moto raised before writing
    try:
        if table.hash_key_attr in key and table.range_key_attr in key:
            hash_key, range_key = DynamoType(key[table.hash_key_attr]), DynamoType(key[table.range_key_attr])
        elif table.hash_key_attr in key:
            hash_key, range_key = DynamoType(key[table.hash_key_attr]), None
        else:
            hash_key, range_key = DynamoType(key), None
    except Exception:
        return  # moto raised before writing
    if table.range_key_attr and range_key is None:
        return  # moto refuses an update without the range key
    reorder(table, hash_key, range_key)


class _Showing:
    """A table as moto's Table.query sees it, with only the items this query can reach."""

    def __init__(self, table: Any, items: list):
        self._table = table
        self._items = items

    def all_items(self) -> list:
        return self._items

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)


def _query_shown_reachable_items(query: Any) -> Any:
    @functools.wraps(query)  # `Table.query.__wrapped__` is moto's own, for comparison
    def query_shown_reachable_items(table: Any, hash_key: Any, range_comparison: str | None, range_objs: list,
                                    limit: int | None, exclusive_start_key: dict | None, scan_index_forward: bool,
                                    projection_expressions: Any, index_name: str | None = None,
                                    consistent_read: bool = False, filter_expression: Any = None,
                                    hash_key_conditions: list | None = None, range_key_conditions: list | None = None,
                                    **filter_kwargs: Any) -> Any:
        shown: Any = table
        try:
            if index_name:
                taken, stopped = _index_page(
                    table, index_name, consistent_read, hash_key_conditions, range_key_conditions,
                    range_comparison, range_objs, limit, exclusive_start_key, scan_index_forward, filter_kwargs)
                return _answered(table, index_name, taken, stopped, filter_expression, projection_expressions)
            shown = _Showing(table, _partition(table, hash_key))
        except Exception:  # _NotHere, or a request moto refuses (or answers) in its own way: let it
            pass
        return query(shown, hash_key, range_comparison, range_objs,
                     limit, exclusive_start_key, scan_index_forward, projection_expressions, index_name,
                     consistent_read, filter_expression, hash_key_conditions=hash_key_conditions,
                     range_key_conditions=range_key_conditions, **filter_kwargs)

    return query_shown_reachable_items


def _answered(table: Any, index_name: str, taken: list, stopped: bool, filter_expression: Any,
              projection_expressions: Any) -> tuple[list, int, Any]:
    """The end of moto's Table.query, for the items its loop takes: (items, ScannedCount,
    LastEvaluatedKey). moto deep-copies the items before projecting them; an INCLUDE or KEYS_ONLY
    projection builds new items, and nothing after it writes to them, so only ALL copies here."""
    last_key = table._get_last_evaluated_key(taken[-1], index_name) if stopped else None
    index = table.get_index(index_name)
    if (index.projection or {}).get("ProjectionType") in ("KEYS_ONLY", "INCLUDE"):
        results = [index.project(item) for item in taken]
    else:
        results = [index.project(item) for item in copy.deepcopy(taken)]
    if filter_expression is not None:
        results = [item for item in results if filter_expression.expr(item)]
    if projection_expressions:
        results = [item.project(projection_expressions) for item in results]
    return results, len(taken), last_key


def _partition(table: Any, hash_key: Any) -> list:
    """A table Query's items: its partition (moto keeps those of the hash key; it sorts them itself)."""
    if hash_key is None:
        raise _NotHere
    held = table.items.get(hash_key)
    if held is None:
        return []
    return list(held.values()) if table.range_key_attr else [held]


def _index_page(table: Any, index_name: str, consistent_read: bool, hash_key_conditions: list | None,
                        range_key_conditions: list | None, range_comparison: str | None, range_objs: list,
                        limit: Any, exclusive_start_key: Any, forward: bool, filter_kwargs: dict) -> tuple[list, bool]:
    from moto.dynamodb.models.table import GlobalSecondaryIndex

    index = next((i for i in table.all_indexes() if i.name == index_name), None)
    if index is None or filter_kwargs or (consistent_read and isinstance(index, GlobalSecondaryIndex)):
        raise _NotHere  # moto's errors, or its QueryFilter (KeyConditions on other attributes)
    if limit is not None and (type(limit) is not int or limit < 1):
        raise _NotHere
    if exclusive_start_key is not None and not isinstance(exclusive_start_key, dict):
        raise _NotHere
    order = table_orders(table).indexes.get(index.name)
    if order is None or order.misfits or not hash_key_conditions or len(hash_key_conditions) != 1:
        raise _NotHere
    (hash_attr, hash_value), range_conditions = hash_key_conditions[0], range_key_conditions or []
    if hash_attr != order.hash_attr or len(range_conditions) > 1:
        raise _NotHere
    if range_comparison and range_conditions and range_conditions[0][0] != order.range_attr:
        raise _NotHere
    return order.page(hash_value, range_comparison, range_objs, limit, exclusive_start_key, forward is not False)


# Fix 4: a projection converts each projected attribute once.

LIST_ELEMENT = re.compile(r"(.+)\[(\d+)\]$")  # moto's `find_nested_key` reads such a name as a list element
AS_THEY_ARE = {"S": str, "BOOL": bool}  # what boto3's deserializer and serializer give back unchanged


def _projected_once(project: Any) -> Any:
    @functools.wraps(project)
    def project_once(item: Any, projection_expressions: list[list[str]]) -> Any:
        from moto.dynamodb.models.dynamo_type import DynamoType, Item, deserializer, serializer

        if any(len(path) != 1 or LIST_ELEMENT.match(path[0]) for path in projection_expressions):
            return project(item, projection_expressions)  # nested paths, list elements: moto's own
        projected = Item(hash_key=item.hash_key, range_key=item.range_key, attrs={})
        for (name,) in projection_expressions:  # in moto's order; a name met again is the same value
            value = item.attrs.get(name)
            if value is None or name in projected.attrs:
                continue
            if type(value.value) is AS_THEY_ARE.get(value.type):
                typed = {value.type: value.value}
            else:  # boto3's round trip, as Item.project takes every value: numbers and sets may change
                typed = serializer.serialize(deserializer.deserialize(value.to_regular_json()))
            # a part of an item moto holds, so within its size: LimitedSizeDict's re-summing skipped
            dict.__setitem__(projected.attrs, name, DynamoType(typed))
        return projected

    return project_once


# Fix 5: AttributeValues written without walking botocore's model.

STRINGS, STRING_LISTS, BLOBS = frozenset({"S", "N", "NULL", "BOOL"}), frozenset({"SS", "NS"}), frozenset({"B", "BS"})


class _Generic(Exception):
    """A value the generic walk must write."""


def _attribute_value(value: Any, to_base64: Any) -> dict:
    """One AttributeValue as moto's generic JSON serializer writes it; raises _Generic otherwise."""
    if type(value) is not dict or len(value) != 1:
        raise _Generic
    (member, inner), = value.items()
    if inner is None:
        raise _Generic
    if member in STRINGS:
        return {member: inner}
    if member in STRING_LISTS:
        return {member: list(inner)}
    if member == "B":
        return {"B": to_base64(inner)}
    if member == "BS":
        return {"BS": [to_base64(blob) for blob in inner]}
    if member == "M" and type(inner) is dict:
        if "" in inner:  # the generic walk writes a map key "" as no key at all: moto's answer, kept
            raise _Generic
        return {"M": {key: _attribute_value(nested, to_base64) for key, nested in inner.items()}}
    if member == "L" and type(inner) is list:
        return {"L": [_attribute_value(nested, to_base64) for nested in inner]}
    raise _Generic


def _attribute_values_written_directly(serialize_structure: Any) -> Any:
    @functools.wraps(serialize_structure)
    def serialize_structure_directly(serializer: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if key and shape.name == "AttributeValue":
            try:
                serialized[serializer.get_serialized_name(shape, key)] = _attribute_value(value, serializer._base64)
                return
            except _Generic:
                pass
        serialize_structure(serializer, serialized, value, shape, key)

    return serialize_structure_directly


# Fix 6: stream records and shard iterators kept only until read.


def _read_records_dropped(get_records: Any) -> Any:
    @functools.wraps(get_records)
    def wrapper(self: Any, iterator_arn: str, limit: int) -> dict[str, Any]:
        iterator = self.shard_iterators[iterator_arn]
        shard = iterator.stream_shard
        # A position already trimmed (a reader further behind than the trimming allowed) reads from
        # the oldest record kept, as DynamoDB's TRIM_HORIZON would.
        iterator.sequence_number = max(int(iterator.sequence_number), shard.starting_sequence_number)
        answer = get_records(self, iterator_arn, limit)
        del self.shard_iterators[iterator_arn]
        # Records every reader of the shard has passed: before the slowest one's next position.
        positions = [int(i.sequence_number) for i in self.shard_iterators.values() if i.stream_shard is shard]
        passed = min([*positions, int(iterator.sequence_number)]) - shard.starting_sequence_number
        passed = min(passed, len(shard.items))
        if passed > 0:
            del shard.items[:passed]
            shard.starting_sequence_number += passed
        return answer

    return wrapper


def _retained(self: Any, queue_name: str, message: Any) -> bool:
    """moto's retention check (fix 7), reading the queue's retention period alone."""
    retention_period = int(self.get_queue(queue_name).message_retention_period)
    return retention_period + message.sent_timestamp / 1000 > time.time()
