"""Case lifecycle rules and regulatory clocks: pure."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from review import rules
from review.errors import Conflict, Invalid
from review.model import Case, Decision, Item, Kind, Member, Priority, Status

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


def make_case(items: int = 2, **extra) -> Case:
    fields = dict(id="0001", partner_id="p", source="fhir", kind=Kind.PRIOR_AUTH, priority=Priority.STANDARD,
                  received_at=T0, due_at=T0, member=Member(), items=[Item(sequence=n) for n in range(1, items + 1)])
    return Case(**{**fields, **extra})


@pytest.mark.parametrize("kind, priority, pre_service, expected", [
    (Kind.PRIOR_AUTH, Priority.EXPEDITED, True, timedelta(hours=72)),
    (Kind.PRIOR_AUTH, Priority.STANDARD, True, timedelta(days=7)),
    (Kind.APPEAL, Priority.EXPEDITED, True, timedelta(hours=72)),
    (Kind.APPEAL, Priority.STANDARD, True, timedelta(days=30)),
    (Kind.APPEAL, Priority.STANDARD, False, timedelta(days=60)),
    (Kind.CLAIM, Priority.STANDARD, False, timedelta(days=30)),
])
def test_regulatory_due_times(kind, priority, pre_service, expected):
    assert rules.due_at(kind, priority, T0, pre_service) - T0 == expected


def test_case_ids_sort_by_receipt():
    assert rules.new_case_id(T0) < rules.new_case_id(T0 + timedelta(milliseconds=1))


def test_decide_all_items_settles_case_and_grants_authorization():
    decided = rules.decide(make_case(), [
        {"item_sequence": 1, "decision": "approved"},
        {"item_sequence": 2, "decision": "denied", "reason_code": "0U"},
    ], T0)
    assert decided.status is Status.DECIDED and decided.decided_at == T0
    assert [i.determination.decision for i in decided.items] == [Decision.APPROVED, Decision.DENIED]
    assert decided.preauth_ref and decided.preauth_period.start == "2026-11-23"


def test_pended_item_keeps_case_open():
    decided = rules.decide(make_case(), [{"item_sequence": 1, "decision": "approved"}], T0)
    assert decided.status is Status.PENDING_REVIEW and decided.decided_at is None


@pytest.mark.parametrize("decision", ["denied", "partial", "modified"])
def test_adverse_or_changed_decision_needs_a_reason(decision):
    with pytest.raises(Invalid) as raised:
        rules.decide(make_case(), [{"item_sequence": 1, "decision": decision}], T0)
    assert raised.value.expression == "decisions[0].reasonCode"


def test_unknown_item_is_refused():
    with pytest.raises(Invalid) as raised:
        rules.decide(make_case(), [{"item_sequence": 9, "decision": "approved"}], T0)
    assert raised.value.code == "not-found"


def test_denial_alone_grants_nothing():
    decided = rules.decide(make_case(1), [{"item_sequence": 1, "decision": "denied", "reason_text": "not necessary"}], T0)
    assert decided.preauth_ref is None


def test_cancelled_case_cannot_be_decided_or_updated():
    cancelled = rules.cancel(make_case())
    assert cancelled.status is Status.CANCELLED and all(i.cancelled for i in cancelled.items)
    with pytest.raises(Conflict):
        rules.decide(cancelled, [{"item_sequence": 1, "decision": "approved"}], T0)
    with pytest.raises(Conflict):
        rules.apply_update(cancelled, [Item(sequence=3)])


def test_update_adds_replaces_and_cancels_items():
    updated = rules.apply_update(make_case(), [Item(sequence=2, cancelled=True), Item(sequence=3)])
    assert [(i.sequence, i.cancelled) for i in updated.items] == [(1, False), (2, True), (3, False)]
    assert updated.status is Status.PENDING_REVIEW


def test_update_cancelling_every_item_cancels_the_case():
    updated = rules.apply_update(make_case(1), [Item(sequence=1, cancelled=True)])
    assert updated.status is Status.CANCELLED


def test_redeciding_to_a_denial_withdraws_the_authorization():
    approved = rules.decide(make_case(1), [{"item_sequence": 1, "decision": "approved"}], T0)
    assert approved.preauth_ref
    denied = rules.decide(approved, [{"item_sequence": 1, "decision": "denied", "reason_code": "0U"}], T0)
    assert denied.preauth_ref is None and denied.preauth_period is None


def test_best_match_prefers_same_kind_then_more_keys_then_newest():
    a, b, c = ("a", "claim"), ("b", "appeal"), ("c", "claim")
    assert rules.best_match([[a, b], [a]], "appeal") == "b"
    assert rules.best_match([[a, b], [b]], "claim") == "a"
    assert rules.best_match([[a, c], [a]], "claim") == "a"
    assert rules.best_match([[a, c]], "claim") == "c"
    assert rules.best_match([], "claim") is None
