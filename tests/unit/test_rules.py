"""Intake rules of a review case: ids, the clock it runs on, how a later message changes it. Pure."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from review import rules
from review.errors import Conflict
from review.model import Code, Decision, Item, Kind, Priority, Status
from review.rules import ReviewPolicy
from tests import factories as f

T0 = f.T0  # 2026-11-23 12:00 UTC


def two_items(**changes):
    return f.case(f.pas_bundle(f.claim(items=2)), **changes)


# ---- ids ------------------------------------------------------------------------------------

def test_case_ids_sort_by_receipt():
    assert rules.new_case_id(T0) < rules.new_case_id(T0 + timedelta(milliseconds=1))
    assert rules.new_case_id(T0 + timedelta(days=1)) > rules.new_case_id(T0 + timedelta(hours=23))


def test_case_ids_are_unique_fhir_ids():
    ids = {rules.new_case_id(T0) for _ in range(100)}
    assert len(ids) == 100
    assert all(re.fullmatch(r"[0-9a-f]{24}", i) for i in ids)  # within FHIR's [A-Za-z0-9\-\.]{1,64}


# ---- best_match -----------------------------------------------------------------------------

def test_best_match_prefers_same_kind_then_more_keys_then_newest():
    a, b, c = ("a", "claim"), ("b", "appeal"), ("c", "claim")
    assert rules.best_match([[a, b], [a]], "appeal") == "b"
    assert rules.best_match([[a, b], [b]], "claim") == "a"
    assert rules.best_match([[a, c], [a]], "claim") == "a"
    assert rules.best_match([[a, c]], "claim") == "c"
    assert rules.best_match([], "claim") is None


def test_best_match_counts_a_case_once_per_key():
    a, c = ("a", "claim"), ("c", "claim")
    assert rules.best_match([[a, a, a], [c]], "claim") == "c"  # a tie of one vote each: the latest


# ---- apply_update ---------------------------------------------------------------------------

def test_update_adds_replaces_and_cancels_items():
    changed = Item(sequence=1, service=Code(system=f.CPT, code="99215"), info_changed="changed")
    updated = rules.apply_update(two_items(), [changed, Item(sequence=2, cancelled=True), Item(sequence=3)])
    assert [(i.sequence, i.cancelled) for i in updated] == [(1, False), (2, True), (3, False)]
    assert updated[0] == changed and updated[2] == Item(sequence=3)
    assert updated[1].service == Code(system=f.CPT, code="99212")  # cancelled as it was


def test_update_keeps_items_restated_unchanged_with_their_determination():
    approved = f.determination("approved", reviewer=f.physician())
    the_case = f.decided(two_items(), {1: approved}, status=Status.IN_REVIEW)
    restated = Item(sequence=1, service=Code(system=f.CPT, code="00000"))  # no infoChanged: as before
    changed = Item(sequence=2, service=Code(system=f.CPT, code="99215"), info_changed="changed")
    updated = rules.apply_update(the_case, [restated, changed])
    assert updated[0] == the_case.items[0] and updated[0].determination == approved
    assert updated[1] == changed


def test_update_of_an_unknown_item_cancelled_adds_it_cancelled():
    updated = rules.apply_update(two_items(), [Item(sequence=5, cancelled=True)])
    assert [(i.sequence, i.cancelled) for i in updated] == [(1, False), (2, False), (5, True)]


@pytest.mark.parametrize("status", [Status.DECIDED, Status.CANCELLED, Status.WITHDRAWN])
def test_a_closed_case_cannot_be_updated(status):
    with pytest.raises(Conflict) as raised:
        rules.apply_update(two_items(status=status), [Item(sequence=3)])
    assert raised.value.message == f"the case is {status.value} and can no longer be updated"
    assert raised.value.expression == "Claim.related"


@pytest.mark.parametrize("status", [Status.RECEIVED, Status.ASSIGNED, Status.IN_REVIEW,
                                    Status.INFORMATION_REQUESTED])
def test_an_open_case_can_be_updated(status):
    assert len(rules.apply_update(two_items(status=status), [Item(sequence=3)])) == 3


def test_cancelled_items_are_every_item_cancelled():
    assert [(i.sequence, i.cancelled) for i in rules.cancelled_items(two_items())] == [(1, True), (2, True)]


# ---- is_adverse -----------------------------------------------------------------------------

@pytest.mark.parametrize("decisions, adverse", [
    ({1: "approved", 2: "approved"}, False),
    ({1: "approved", 2: "denied"}, True),
    ({1: "partial", 2: "approved"}, True),
    ({1: "modified", 2: "approved"}, True),
    ({1: "pended", 2: "approved"}, False),
    ({}, False),
])
def test_is_adverse(decisions, adverse):
    the_case = f.decided(two_items(), {n: f.determination(d) for n, d in decisions.items()})
    assert rules.is_adverse(the_case) is adverse


def test_a_cancelled_denied_item_is_nothing_to_appeal():
    the_case = f.decided(two_items(), {1: f.determination("approved"), 2: f.determination("denied")})
    items = [the_case.items[0], the_case.items[1].model_copy(update={"cancelled": True})]
    assert rules.is_adverse(the_case.model_copy(update={"items": items})) is False


def test_adverse_is_what_lifecycle_treats_as_adverse():
    from review import lifecycle
    assert rules.ADVERSE == lifecycle.ADVERSE == {Decision.DENIED, Decision.PARTIAL, Decision.MODIFIED}


# ---- the clock a case runs on ---------------------------------------------------------------

@pytest.mark.parametrize("kind, priority, pre_service, due", [
    (Kind.PRIOR_AUTH, Priority.EXPEDITED, True, datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)),
    (Kind.PRIOR_AUTH, Priority.STANDARD, True, datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)),
    (Kind.PREDETERMINATION, Priority.STANDARD, True, datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)),
    (Kind.APPEAL, Priority.EXPEDITED, True, datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)),
    (Kind.APPEAL, Priority.STANDARD, True, datetime(2026, 12, 23, 12, 0, tzinfo=timezone.utc)),
    (Kind.APPEAL, Priority.STANDARD, False, datetime(2027, 1, 22, 12, 0, tzinfo=timezone.utc)),
    (Kind.APPEAL, Priority.EXPEDITED, False, datetime(2027, 1, 22, 12, 0, tzinfo=timezone.utc)),
    (Kind.CLAIM, Priority.STANDARD, False, datetime(2026, 12, 23, 12, 0, tzinfo=timezone.utc)),
])
def test_medicare_advantage_due_times(kind, priority, pre_service, due):
    the_case = f.case(kind=kind, priority=priority, pre_service=pre_service)
    assert ReviewPolicy().due_at(the_case, priority) == due


def test_the_case_line_of_business_and_the_partner_zone_set_the_clock():
    """Commercial (ERISA) standard prior auth is 15 days; received 2026-11-01 07:00Z, still
    00:00 PDT in Los Angeles (New York already fell back), due at 00:00 PST on 2026-11-16."""
    the_case = f.case(line_of_business="commercial-erisa", received_at=datetime(2026, 11, 1, 7, 0, tzinfo=timezone.utc))
    policy = ReviewPolicy(line_of_business="medicaid", time_zone="America/Los_Angeles")
    assert policy.due_at(the_case, Priority.STANDARD) == datetime(2026, 11, 16, 8, 0, tzinfo=timezone.utc)
    assert ReviewPolicy().due_at(the_case, Priority.STANDARD) == datetime(2026, 11, 16, 7, 0, tzinfo=timezone.utc)
