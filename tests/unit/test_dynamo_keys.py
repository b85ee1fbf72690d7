"""The DynamoDB requests the store sends, asserted as built (no I/O)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from adapters import dynamo_keys as keys
from review.errors import Invalid
from fhir_mappings.claim_to_case import submission_from_fhir
from review.model import Case, Determination, Door, Event, InboundMessage, Kind, Priority, Status
from review.views import WorklistQuery
from tests import factories as f

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


def make():
    sub = submission_from_fhir(f.pas_bundle())
    case = Case(**dict(sub.draft), id="c1", partner_id="p1", received_at=T0, due_at=T0)
    return case, sub


def test_new_case_is_one_transaction_with_guarded_case_and_submission():
    case, sub = make()
    request = keys.create_case_transaction("T", case, sub, Event(at=T0, type="received"))
    puts = [i["Put"] for i in request["TransactItems"]]
    assert puts[keys.CASE_AT]["Item"]["PK"] == {"S": "CASE#c1"}
    assert puts[keys.CASE_AT]["ConditionExpression"] == "attribute_not_exists(PK)"
    assert puts[keys.SUBMISSION_AT]["Item"] == {
        **keys.submission_key("p1", "urn:example:submissions|BND-1"), "case_id": {"S": "c1"}, "sha256": {"S": sub.sha256}}
    assert puts[keys.SUBMISSION_AT]["ConditionExpression"] == "attribute_not_exists(PK)"
    assert puts[2]["Item"]["SK"]["S"].startswith("EVENT#")
    lookups = {p["Item"]["PK"]["S"] for p in puts[3:]}
    assert {keys.lookup_pk("p1", k) for k in ("urn:example:claims|CLM-1", "CLM-1", "Claim/req-claim",
                                              "member:urn:example:member|M-1", "subscriber:M-1")} == lookups
    assert all(p["TableName"] == "T" for p in puts)


def test_an_accepted_message_is_logged_in_its_case_transaction_and_expires():
    case, sub = make()
    message = InboundMessage(at=T0, partner="p1", door=Door.FHIR, type="Claim/$submit", control_id="BND-1",
                             outcome="200", case_id="c1")
    created = keys.create_case_transaction("T", case, sub, Event(at=T0, type="received"), message)
    changed = keys.replace_case_transaction("T", case, 1, [Event(at=T0, type="updated")], sub, message=message)
    for request in (created, changed):
        logged = request["TransactItems"][-1]["Put"]["Item"]
        assert logged["PK"] == {"S": "MESSAGES#2026-11-23"} and logged["SK"]["S"].startswith("2026-11-23T12:00:00.000000Z#")
        assert InboundMessage.model_validate_json(logged["doc"]["S"]) == message
        assert int(logged["expires"]["N"]) == int((T0 + timedelta(days=keys.MESSAGE_LOG_DAYS)).timestamp())
    assert len(created["TransactItems"]) == len(keys.create_case_transaction("T", case, sub, Event(at=T0, type="x"))[
        "TransactItems"]) + 1


def test_the_message_log_reads_a_day_newest_first_from_a_cursor():
    request = keys.message_query("T", T0.date(), 51, before="2026-11-23T12:00:00.000000Z#00ff00ff")
    assert request["ScanIndexForward"] is False and request["Limit"] == 51
    assert request["KeyConditionExpression"] == "PK = :pk AND SK < :before"
    assert request["ExpressionAttributeValues"][":pk"] == {"S": "MESSAGES#2026-11-23"}


def test_identifiers_never_appear_in_keys():
    case, sub = make()
    request = keys.create_case_transaction("T", case, sub, Event(at=T0, type="received"))
    key_text = " ".join(i["Put"]["Item"]["PK"]["S"] + i["Put"]["Item"]["SK"]["S"] for i in request["TransactItems"])
    for secret in ("M-1", "CLM-1", "BND-1", "req-claim"):
        assert secret not in key_text


def test_oversized_case_is_refused_before_any_write():
    case, _ = make()
    big = case.model_copy(update={"parties": [{"reference": "Patient/x", "fullUrl": "x", "resource": {"d": "x" * 400_000}}]})
    with pytest.raises(Invalid):
        keys.case_item(big)


def test_open_case_is_on_every_worklist_index_and_a_closed_one_on_none():
    case, _ = make()
    case = case.model_copy(update={"assignee": "dr-demo"})
    item = keys.case_item(case)
    due = "2026-11-23T12:00:00Z#c1"
    assert (item["GSI1PK"], item["GSI1SK"]) == ({"S": "OPEN"}, {"S": due})
    assert (item["GSI2PK"], item["GSI3PK"], item["GSI4PK"]) == (
        {"S": "PARTNER#p1"}, {"S": "ASSIGNEE#dr-demo"}, {"S": "STATUS#received"})
    closed = keys.case_item(case.model_copy(update={"status": Status.CANCELLED}))
    assert not {"GSI1PK", "GSI1SK", "GSI2PK", "GSI3PK", "GSI4PK", "GSI5PK"} & set(closed)


def test_decided_case_is_on_the_decisions_index_by_partner_and_month():
    case, _ = make()
    items = [i.model_copy(update={"determination": Determination(decision="approved", decided_at=T0)}) for i in case.items]
    item = keys.case_item(case.model_copy(update={"status": Status.DECIDED, "decided_at": T0, "items": items}))
    assert item["GSI5PK"] == {"S": "DECIDED#p1#2026-11"} and item["GSI5SK"] == {"S": "2026-11-23T12:00:00Z#c1"}
    assert item["outcome"] == {"S": "approved"} and item["extended"] == {"BOOL": False} and "GSI1PK" not in item


def test_replace_updates_in_place_guarded_by_version_and_removes_what_no_longer_applies():
    case, _ = make()
    request = keys.replace_case_transaction("T", case.model_copy(update={"status": Status.CANCELLED}), 3,
                                            [Event(at=T0, type="cancel")], None)
    update = request["TransactItems"][0]["Update"]
    assert update["ConditionExpression"] == "#version = :expected"
    assert update["ExpressionAttributeValues"][":expected"] == {"N": "3"}
    removed = update["UpdateExpression"].split(" REMOVE ")[1].split(", ")
    assert {update["ExpressionAttributeNames"][a] for a in removed} >= {"GSI1PK", "GSI1SK", "GSI2PK", "GSI4PK", "assignee"}
    assert "sla" not in update["ExpressionAttributeNames"].values()  # the monitor's marks survive a rewrite
    assert len(request["TransactItems"]) == 2


@pytest.mark.parametrize("query, index, key, filters", [
    (WorklistQuery(), "Worklist", "OPEN", []),
    (WorklistQuery(kind=Kind.APPEAL, priority=Priority.EXPEDITED), "Worklist", "OPEN", ["kind", "priority"]),
    (WorklistQuery(status=Status.ASSIGNED, kind=Kind.CLAIM), "WorklistByStatus", "STATUS#assigned", ["kind"]),
    (WorklistQuery(partner="p1", status=Status.IN_REVIEW), "WorklistByPartner", "PARTNER#p1", ["status"]),
    (WorklistQuery(assignee="u1", partner="p1", priority=Priority.STANDARD), "WorklistByAssignee", "ASSIGNEE#u1",
     ["partner", "priority"]),
])
def test_every_worklist_filter_is_a_query_on_the_most_selective_index(query, index, key, filters):
    request = keys.worklist_query("T", query, 51)
    assert request["IndexName"] == index and request["ExpressionAttributeValues"][":pk"] == {"S": key}
    assert request["Limit"] == 51 and "Scan" not in str(request)
    assert [request["ExpressionAttributeNames"][f"#{f}"] for f in filters] == filters
    if filters:
        assert request["FilterExpression"] == " AND ".join(f"#{f} = :{f}" for f in filters)
    # the most selective filter is the key; the rest, a partner beside an assignee included, filter
    assert ("FilterExpression" in request) == bool(filters)


def test_due_before_is_a_range_condition_on_the_due_key():
    request = keys.worklist_query("T", WorklistQuery(due_before=T0), 10)
    assert request["KeyConditionExpression"] == "#pk = :pk AND #due < :due"
    assert request["ExpressionAttributeValues"][":due"] == {"S": "2026-11-23T12:00:00Z"}


def test_a_closed_status_is_not_a_worklist_filter():
    with pytest.raises(Invalid) as err:
        keys.worklist_plan(WorklistQuery(status=Status.DECIDED))
    assert err.value.expression == "status"


def test_the_monitor_reads_the_cases_due_by_its_edge_as_a_key_range():
    """`due_by_query` keeps every case due at or before the edge (to the second, as stored) and no other."""
    edge = datetime(2026, 3, 8, 15, 0, 0, 500_000, tzinfo=timezone.utc)
    request = keys.due_by_query("T", edge)
    assert request["IndexName"] == "Worklist" and request["KeyConditionExpression"] == "GSI1PK = :pk AND GSI1SK < :past"
    past = request["ExpressionAttributeValues"][":past"]["S"]
    for due, kept in [(edge - timedelta(days=30), True), (edge - timedelta(seconds=1), True), (edge, True),
                      (edge.replace(microsecond=0), True), (edge + timedelta(seconds=1), False)]:
        for case_id in ("0", "zzzzzzzzzzzz", "~"):
            assert (keys.due_key(case_id, due) < past) is kept, (due, case_id)


def test_the_monitor_counts_from_two_projected_attributes():
    request = keys.open_counts_query("T")
    assert request["ProjectionExpression"] == "#partner, #priority" and "ExclusiveStartKey" not in request
    assert request["KeyConditionExpression"] == "GSI1PK = :pk" and request["ExpressionAttributeValues"] == {":pk": {"S": "OPEN"}}


class PagedClient:
    """A DynamoDB client whose Query answers in the pages given, each naming where the next starts."""

    def __init__(self, pages: list[list[dict]]):
        self.pages, self.asked = pages, []

    def query(self, **request) -> dict:
        self.asked.append(request)
        at = request["ExclusiveStartKey"]["at"] if "ExclusiveStartKey" in request else 0
        page = {"Items": self.pages[at]}
        if at + 1 < len(self.pages):
            page["LastEvaluatedKey"] = {"at": at + 1}
        return page


def test_a_view_reads_every_page_each_resumed_where_the_last_stopped():
    from adapters.case_views import DynamoCaseViews

    row = lambda partner: {"partner": {"S": partner}, "priority": {"S": "standard"}}  # noqa: E731
    client = PagedClient([[row("a"), row("b")], [row("a")], [row("c")]])
    counts = DynamoCaseViews(client, "T").open_counts()
    assert counts == {("a", "standard"): 2, ("b", "standard"): 1, ("c", "standard"): 1}
    assert [r.get("ExclusiveStartKey") for r in client.asked] == [None, {"at": 1}, {"at": 2}]
    assert all(r["ProjectionExpression"] == "#partner, #priority" for r in client.asked)


def test_a_change_and_its_outbox_records_are_one_transaction_each_record_written_once():
    from review.outbox import FHIR, HL7V2, Notice, OutboxRecord

    case = f.case().model_copy(update={"version": 5})
    records = [OutboxRecord(case_id=case.id, case_version=5, target=t, notice=Notice.DETERMINATION, created_at=T0)
               for t in (FHIR, HL7V2)]
    items = keys.replace_case_transaction("T", case, 4, [], None, records)["TransactItems"]
    assert "Update" in items[keys.CASE_AT]  # the case stays first: a failed version check is found there
    puts = [i["Put"] for i in items[1:]]
    assert [p["Item"]["SK"]["S"] for p in puts] == ["OUTBOX#00000005#fhir", "OUTBOX#00000005#hl7v2"]
    assert all(p["ConditionExpression"] == "attribute_not_exists(PK)" for p in puts)
    assert puts[0]["Item"]["PK"] == keys.case_key(case.id)["PK"] and puts[0]["Item"]["state"] == {"S": "pending"}
    # On the Deliveries index only (until delivered), never on a worklist index.
    assert {k for k in puts[0]["Item"] if k.startswith("GSI")} == {"GSI6PK", "GSI6SK"}
    assert puts[0]["Item"]["GSI6PK"] == {"S": "DELIVERY#pending"}
