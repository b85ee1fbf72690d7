"""The review lifecycle: every command from every state, who may give it, and what it records. Pure."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from pydantic import ValidationError

from review.delivery import DELIVERY_WORKER
from review import commands as cmd
from review import lifecycle, rules
from review.errors import Conflict, Forbidden, IllegalTransition, Invalid
from review.lifecycle import TRANSITIONS
from review.model import (
    Actor, Case, ClockExtension, Code, Decision, Determination, InformationRequest, Item, Kind, Period, Priority,
    RequestedInfo, Role, Status,
)
from review.rules import ReviewPolicy
from tests import factories as f

S = Status
T0 = f.T0  # 2026-11-23 12:00 UTC: every case here was received then
NOW = datetime(2026, 11, 24, 9, 30, tzinfo=timezone.utc)
POLICY = ReviewPolicy()  # medicare-advantage, America/New_York

PHYSICIAN = f.caller("u-physician")  # the assignee of the cases below
REVIEWER = f.caller("u-reviewer", Role.REVIEWER)
SUPERVISOR = f.caller("u-supervisor", Role.SUPERVISOR)
PARTNER = Actor(id="p", role=Role.PARTNER)

AS_PHYSICIAN = Actor(id="u-physician", role=Role.PHYSICIAN_REVIEWER, npi=f.REVIEWER_NPI)
AS_REVIEWER = Actor(id="u-reviewer", role=Role.REVIEWER)
AS_SUPERVISOR = Actor(id="u-supervisor", role=Role.SUPERVISOR)


def in_state(status: Status, items: int = 1, **changes) -> Case:
    """A case as the lifecycle leaves it in `status`: unassigned when received, assigned to
    u-physician from then on."""
    body = f.pas_bundle(f.claim(items=items))
    if status is S.RECEIVED:
        return f.case(body, **changes)
    the_case = f.case(body, **{"status": status, "assignee": "u-physician", **changes})
    if status is S.INFORMATION_REQUESTED:
        return f.asking(the_case)
    if status in (S.DECIDED, S.DELIVERED, S.CLOSED):
        decided = f.decided(the_case, {n: f.determination(reviewer=AS_PHYSICIAN) for n in range(1, items + 1)})
        return decided.model_copy(update={"status": status})
    if status is S.CANCELLED:
        return the_case.model_copy(update={"items": rules.cancelled_items(the_case)})
    return the_case


def version(the_case) -> int:
    return the_case.version


# Each command given as the caller who may give it; (run, actor, reason, event type).
COMMANDS = {
    "assign": (lambda c: lifecycle.assign(c, SUPERVISOR, cmd.Assign(version=version(c), reviewer="u-reviewer"),
                                          f.profile("u-reviewer", Role.REVIEWER), NOW),
               AS_SUPERVISOR, None, "assign"),
    "start": (lambda c: lifecycle.start(c, PHYSICIAN, NOW), AS_PHYSICIAN, None, "start"),
    "request-information": (lambda c: lifecycle.request_information(c, SUPERVISOR, cmd.RequestInformation(
        version=version(c), items=[{"text": "Progress notes"}], due_by=date(2026, 12, 8)), NOW),
        AS_SUPERVISOR, None, "request-information"),
    "information-received": (lambda c: lifecycle.receive_information(c, [f.document(at=NOW)], PARTNER, NOW),
                             PARTNER, None, "information-received"),
    "decide": (lambda c: lifecycle.decide(c, PHYSICIAN, cmd.Decide(version=version(c), decisions=[
        {"item_sequence": 1, "decision": "approved"}]), NOW), AS_PHYSICIAN, None, "determination"),
    "reopen": (lambda c: lifecycle.reopen(c, SUPERVISOR, cmd.Reopen(version=version(c), reason="new evidence"), NOW),
               AS_SUPERVISOR, "new evidence", "reopen"),
    "deliver": (lambda c: lifecycle.transition(c, "deliver", DELIVERY_WORKER, NOW, event_type="delivered"),
                DELIVERY_WORKER, None, "delivered"),
    "close": (lambda c: lifecycle.close(c, SUPERVISOR, cmd.Close(version=version(c), reason="appeal window over"), NOW),
              AS_SUPERVISOR, "appeal window over", "close"),
    "withdraw": (lambda c: lifecycle.withdraw(c, SUPERVISOR, cmd.Withdraw(version=version(c), reason="by phone"), NOW),
                 AS_SUPERVISOR, "by phone", "withdraw"),
    "cancel": (lambda c: lifecycle.transition(c, "cancel", PARTNER, NOW, items=rules.cancelled_items(c)),
               PARTNER, None, "cancel"),
    "update": (lambda c: lifecycle.transition(c, "update", PARTNER, NOW, event_type="updated", items=c.items),
               PARTNER, None, "updated"),
    "extend": (lambda c: lifecycle.extend(c, SUPERVISOR, cmd.Extend(version=version(c), days=5, reason="records"),
                                          POLICY, NOW), AS_SUPERVISOR, "records", "extension"),
    "change-priority": (lambda c: lifecycle.reprioritise(c, SUPERVISOR, cmd.ChangePriority(
        version=version(c), priority="expedited"), POLICY, NOW), AS_SUPERVISOR, None, "priority-changed"),
}

OPEN = [S.RECEIVED, S.ASSIGNED, S.IN_REVIEW, S.INFORMATION_REQUESTED]
EXPECTED = {
    "assign": {S.RECEIVED: S.ASSIGNED, S.ASSIGNED: S.ASSIGNED, S.IN_REVIEW: S.ASSIGNED,
               S.INFORMATION_REQUESTED: S.INFORMATION_REQUESTED},
    "start": {S.ASSIGNED: S.IN_REVIEW},
    "request-information": {S.IN_REVIEW: S.INFORMATION_REQUESTED},
    "information-received": {S.RECEIVED: S.RECEIVED, S.ASSIGNED: S.ASSIGNED, S.IN_REVIEW: S.IN_REVIEW,
                             S.INFORMATION_REQUESTED: S.IN_REVIEW},
    "decide": {S.IN_REVIEW: S.DECIDED},
    "deliver": {S.DECIDED: S.DELIVERED},
    "close": {S.DELIVERED: S.CLOSED},
    "reopen": {S.DECIDED: S.IN_REVIEW, S.DELIVERED: S.IN_REVIEW, S.CLOSED: S.IN_REVIEW},
    "withdraw": {s: S.WITHDRAWN for s in OPEN},
    "cancel": {s: S.CANCELLED for s in [*OPEN, S.DECIDED, S.DELIVERED, S.CLOSED]},
    "update": {s: s for s in OPEN},
    "extend": {s: s for s in OPEN},
    "change-priority": {s: s for s in OPEN},
}


def test_the_table_is_as_documented():
    assert TRANSITIONS == EXPECTED


@pytest.mark.parametrize("status", list(Status), ids=str)
@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_from_every_state(command, status):
    run, actor, reason, event_type = COMMANDS[command]
    before = in_state(status)
    to = EXPECTED[command].get(status)
    if to is None:
        with pytest.raises(IllegalTransition) as raised:
            run(before)
        assert isinstance(raised.value, Conflict) and raised.value.code == "conflict"  # 409
        assert raised.value.message == f"cannot {command.replace('-', ' ')}: the case is {status.value}"
        assert raised.value.expression == "status"
        return
    after, event = run(before)
    assert after.status is to and after.version == before.version + 1
    assert event.model_dump(exclude={"detail"}) == {
        "at": NOW, "type": event_type, "actor": actor.model_dump(), "from_status": status, "to_status": to,
        "reason": reason}


# ---- assign ---------------------------------------------------------------------------------

def test_assign_records_the_assignee():
    after, event = lifecycle.assign(in_state(S.RECEIVED), SUPERVISOR, cmd.Assign(version=1, reviewer="u-physician"),
                                    f.profile("u-physician"), NOW)
    assert after.assignee == "u-physician" and event.detail == {"assignee": "u-physician"}


def test_a_reviewer_assigns_only_themself():
    with pytest.raises(Forbidden) as raised:
        lifecycle.assign(in_state(S.RECEIVED), REVIEWER, cmd.Assign(version=1, reviewer="u-physician"),
                         f.profile("u-physician"), NOW)
    assert raised.value.code == "forbidden"
    after, event = lifecycle.assign(in_state(S.RECEIVED), REVIEWER, cmd.Assign(version=1, reviewer="u-reviewer"),
                                    None, NOW)  # no profile kept yet: the token says who they are
    assert after.assignee == "u-reviewer" and event.actor == AS_REVIEWER


def test_a_supervisor_assigns_anyone():
    for reviewer in (f.profile("u-physician"), f.profile("u-reviewer", Role.REVIEWER)):
        after, event = lifecycle.assign(in_state(S.ASSIGNED), SUPERVISOR, cmd.Assign(version=1, reviewer=reviewer.id),
                                        reviewer, NOW)
        assert after.assignee == reviewer.id and event.actor == AS_SUPERVISOR


def test_assigning_needs_a_review_role():
    with pytest.raises(Forbidden):
        lifecycle.assign(in_state(S.RECEIVED), f.caller("u-x", Role.PARTNER), cmd.Assign(version=1, reviewer="u-x"),
                         None, NOW)


def test_assigning_to_an_unknown_reviewer_is_invalid():
    with pytest.raises(Invalid) as raised:
        lifecycle.assign(in_state(S.RECEIVED), SUPERVISOR, cmd.Assign(version=1, reviewer="u-nobody"), None, NOW)
    assert (raised.value.expression, raised.value.code) == ("reviewer", "not-found")


def test_assigning_to_a_supervisor_only_user_is_invalid():
    with pytest.raises(Invalid) as raised:
        lifecycle.assign(in_state(S.RECEIVED), SUPERVISOR, cmd.Assign(version=1, reviewer="u-boss"),
                         f.profile("u-boss", Role.SUPERVISOR), NOW)
    assert (raised.value.expression, raised.value.code) == ("reviewer", "business-rule")


PROVIDER_NPI = "1234567893"  # the requesting provider of f.case()


@pytest.mark.parametrize("conflicts, kind", [
    ({"partners": ["partner-acme"]}, "partner"),
    ({"provider_npis": [PROVIDER_NPI]}, "provider"),
    ({"organizations": [f"http://hl7.org/fhir/sid/us-npi|{PROVIDER_NPI}"]}, "organization"),
])
@pytest.mark.parametrize("assigner", ["supervisor", "themself"])
def test_a_conflict_of_interest_refuses_the_assignment_naming_only_its_kind(conflicts, kind, assigner):
    the_case = in_state(S.RECEIVED, partner_id="partner-acme")
    reviewer = f.profile("u-physician", **conflicts)
    caller = SUPERVISOR if assigner == "supervisor" else PHYSICIAN
    with pytest.raises(Conflict) as raised:
        lifecycle.assign(the_case, caller, cmd.Assign(version=1, reviewer="u-physician"), reviewer, NOW)
    assert raised.value.message == f"the reviewer has a conflict of interest with this case ({kind})"
    assert "partner-acme" not in raised.value.message and PROVIDER_NPI not in raised.value.message
    assert raised.value.expression == "reviewer" and raised.value.code == "conflict"


def test_conflicts_with_other_parties_do_not_refuse():
    reviewer = f.profile("u-physician", partners=["other-partner"], provider_npis=["1000000004"],
                         organizations=["http://hl7.org/fhir/sid/us-npi|1000000004"])
    assert lifecycle.conflict_of(reviewer, in_state(S.RECEIVED)) is None
    after, _ = lifecycle.assign(in_state(S.RECEIVED), SUPERVISOR, cmd.Assign(version=1, reviewer="u-physician"),
                                reviewer, NOW)
    assert after.assignee == "u-physician"


# ---- start, reopen: who ---------------------------------------------------------------------

def test_only_the_assignee_starts():
    for caller in (REVIEWER, SUPERVISOR):
        with pytest.raises(Forbidden):
            lifecycle.start(in_state(S.ASSIGNED), caller, NOW)


def test_starting_an_unassigned_case_names_its_state():
    with pytest.raises(IllegalTransition, match="the case is received"):
        lifecycle.start(in_state(S.RECEIVED), PHYSICIAN, NOW)


def test_only_supervisors_reopen():
    for caller in (PHYSICIAN, REVIEWER):
        with pytest.raises(Forbidden):
            lifecycle.reopen(in_state(S.DECIDED), caller, cmd.Reopen(version=1, reason="x"), NOW)


# ---- decide ---------------------------------------------------------------------------------

def decide(decisions: list[dict], caller=PHYSICIAN, items: int = 1, the_case=None):
    the_case = the_case or in_state(S.IN_REVIEW, items=items)
    return lifecycle.decide(the_case, caller, cmd.Decide(version=the_case.version, decisions=decisions), NOW)


def test_only_the_assignee_decides():
    for caller in (REVIEWER, SUPERVISOR, f.caller("u-other")):
        with pytest.raises(Forbidden):
            decide([{"item_sequence": 1, "decision": "approved"}], caller=caller)


def test_an_approval_records_the_reviewer_an_authorization_and_a_default_period():
    after, event = decide([{"item_sequence": 1, "decision": "approved"}])
    assert after.items[0].determination == Determination(
        decision=Decision.APPROVED, decided_at=NOW, reviewer=AS_PHYSICIAN, authorization_number="CBCASE1-1")
    assert (after.status, after.decided_at, after.preauth_ref) == (S.DECIDED, NOW, "CBCASE1")
    assert after.preauth_period == Period(start="2026-11-24", end="2027-02-22")  # 90 days
    assert event.detail == {"items": {"1": "approved"}}


def test_a_reviewer_who_is_no_physician_may_approve():
    the_case = in_state(S.IN_REVIEW, assignee="u-reviewer")
    after, event = decide([{"item_sequence": 1, "decision": "approved"}], caller=REVIEWER, the_case=the_case)
    assert after.items[0].determination.reviewer == AS_REVIEWER and event.actor == AS_REVIEWER


def test_authorization_numbers_go_to_granted_items_only():
    after, event = decide([
        {"item_sequence": 1, "decision": "approved"},
        {"item_sequence": 2, "decision": "denied", "reason_code": "0U", "reason_text": "not medically necessary"},
        {"item_sequence": 3, "decision": "partial", "reason_code": "0V", "authorized_quantity": 2},
        {"item_sequence": 4, "decision": "modified", "reason_code": "0W",
         "authorized_code": {"system": f.CPT, "code": "99212"}},
    ], items=4)
    assert [i.determination for i in after.items] == [
        Determination(decision=Decision.APPROVED, decided_at=NOW, reviewer=AS_PHYSICIAN,
                      authorization_number="CBCASE1-1"),
        Determination(decision=Decision.DENIED, reason_code="0U", reason_text="not medically necessary",
                      decided_at=NOW, reviewer=AS_PHYSICIAN),
        Determination(decision=Decision.PARTIAL, reason_code="0V", decided_at=NOW, reviewer=AS_PHYSICIAN,
                      authorization_number="CBCASE1-3", authorized_quantity=2),
        Determination(decision=Decision.MODIFIED, reason_code="0W", decided_at=NOW, reviewer=AS_PHYSICIAN,
                      authorization_number="CBCASE1-4", authorized_service=Code(system=f.CPT, code="99212")),
    ]
    assert event.detail == {"items": {"1": "approved", "2": "denied", "3": "partial", "4": "modified"}}


def test_the_preauth_period_spans_the_authorized_periods():
    after, _ = decide([
        {"item_sequence": 1, "decision": "approved", "authorized_period": {"start": "2026-12-01", "end": "2027-01-31"}},
        {"item_sequence": 2, "decision": "partial", "reason_code": "0V",
         "authorized_period": {"start": "2026-12-15", "end": "2027-03-01"}},
    ], items=2)
    assert after.preauth_period == Period(start="2026-12-01", end="2027-03-01")
    assert after.items[0].determination.authorized_period == Period(start="2026-12-01", end="2027-01-31")


def test_a_denial_of_everything_grants_nothing():
    after, _ = decide([{"item_sequence": 1, "decision": "denied", "reason_code": "0U"}])
    assert (after.preauth_ref, after.preauth_period, after.items[0].determination.authorization_number) == (None,) * 3


@pytest.mark.parametrize("adverse", [
    {"decision": "denied"},
    {"decision": "partial", "authorized_quantity": 1},
    {"decision": "modified", "authorized_quantity": 1},
])
def test_an_adverse_decision_needs_a_physician_with_an_npi_and_a_reason_code(adverse):
    item = {"item_sequence": 2, **adverse}
    approve = {"item_sequence": 1, "decision": "approved"}
    with pytest.raises(Forbidden) as raised:
        decide([approve, {**item, "reason_code": "0U"}], caller=REVIEWER, items=2,
               the_case=in_state(S.IN_REVIEW, items=2, assignee="u-reviewer"))
    assert raised.value.expression == "decisions[1].decision"
    with pytest.raises(Forbidden) as raised:
        decide([approve, {**item, "reason_code": "0U"}], caller=f.caller("u-physician", Role.PHYSICIAN_REVIEWER),
               items=2)
    assert raised.value.expression == "npi"
    with pytest.raises(Invalid) as raised:
        decide([approve, item], items=2)
    assert (raised.value.expression, raised.value.code) == ("decisions[1].reason_code", "required")
    after, _ = decide([approve, {**item, "reason_code": "0U"}], items=2)
    assert after.items[1].determination.reviewer == AS_PHYSICIAN


@pytest.mark.parametrize("decision, expression", [
    ({"decision": "partial", "reason_code": "0V"}, "decisions[0].authorized_quantity"),
    ({"decision": "modified", "reason_code": "0V"}, "decisions[0].authorized_code"),
    ({"decision": "approved", "authorized_quantity": 2}, "decisions[0].authorized_quantity"),
    ({"decision": "approved", "authorized_code": {"code": "99212"}}, "decisions[0].authorized_code"),
    ({"decision": "denied", "reason_code": "0U", "authorized_quantity": 2}, "decisions[0].authorized_quantity"),
    ({"decision": "denied", "reason_code": "0U", "authorized_code": {"code": "99212"}}, "decisions[0].authorized_code"),
    ({"decision": "denied", "reason_code": "0U", "authorized_period": {"start": "2026-12-01", "end": "2026-12-31"}},
     "decisions[0].authorized_period"),
])
def test_what_a_decision_authorizes_must_fit_it(decision, expression):
    with pytest.raises(Invalid) as raised:
        decide([{"item_sequence": 1, **decision}])
    assert raised.value.expression == expression


@pytest.mark.parametrize("authorized", [
    {"authorized_quantity": 2}, {"authorized_period": {"start": "2026-12-01", "end": "2026-12-31"}}])
def test_a_partial_decision_states_a_quantity_or_dates(authorized):
    after, _ = decide([{"item_sequence": 1, "decision": "partial", "reason_code": "0V", **authorized}])
    assert after.items[0].determination.decision is Decision.PARTIAL


@pytest.mark.parametrize("authorized", [
    {"authorized_quantity": 2}, {"authorized_period": {"start": "2026-12-01", "end": "2026-12-31"}},
    {"authorized_code": {"system": f.CPT, "code": "99212"}}])
def test_a_modified_decision_states_a_quantity_dates_or_code(authorized):
    after, _ = decide([{"item_sequence": 1, "decision": "modified", "reason_code": "0V", **authorized}])
    assert after.items[0].determination.decision is Decision.MODIFIED


def test_every_active_item_needs_a_decision():
    with pytest.raises(Invalid) as raised:
        decide([{"item_sequence": 1, "decision": "approved"}], items=3)
    assert raised.value.expression == "decisions" and raised.value.code == "required"
    assert "[2, 3]" in raised.value.message


def test_a_cancelled_item_needs_none_and_takes_none():
    the_case = in_state(S.IN_REVIEW, items=2)
    the_case = the_case.model_copy(update={"items": [the_case.items[0], the_case.items[1].model_copy(
        update={"cancelled": True})]})
    after, _ = decide([{"item_sequence": 1, "decision": "approved"}], the_case=the_case)
    assert after.items[1].determination is None and after.items[1].cancelled
    with pytest.raises(Invalid) as raised:
        decide([{"item_sequence": 1, "decision": "approved"}, {"item_sequence": 2, "decision": "approved"}],
               the_case=the_case)
    assert (raised.value.expression, raised.value.code) == ("decisions[1].item_sequence", "not-found")


@pytest.mark.parametrize("decisions, expression", [
    ([{"item_sequence": 9, "decision": "approved"}], "decisions[0].item_sequence"),
    ([{"item_sequence": 1, "decision": "approved"}, {"item_sequence": 1, "decision": "approved"}],
     "decisions[1].item_sequence"),
])
def test_an_unknown_or_repeated_item_is_invalid(decisions, expression):
    with pytest.raises(Invalid) as raised:
        decide(decisions)
    assert (raised.value.expression, raised.value.code) == (expression, "not-found")


def test_a_pend_is_not_a_decision():
    with pytest.raises(ValidationError) as raised:
        cmd.ItemDecision.model_validate({"item_sequence": 1, "decision": "pended"})
    assert "'approved', 'denied', 'partial' or 'modified'" in str(raised.value)


# ---- reopen ---------------------------------------------------------------------------------

def test_reopen_clears_the_determinations_and_keeps_them_in_the_event():
    decided, _ = decide([{"item_sequence": 1, "decision": "approved"},
                         {"item_sequence": 2, "decision": "denied", "reason_code": "0U"}], items=2)
    reopened, event = lifecycle.reopen(decided, SUPERVISOR, cmd.Reopen(version=decided.version, reason="new evidence"),
                                       NOW)
    assert reopened.status is S.IN_REVIEW and reopened.reopened == 1
    assert [i.determination for i in reopened.items] == [None, None]
    assert (reopened.decided_at, reopened.preauth_ref, reopened.preauth_period) == (None, None, None)
    assert event.detail == {"previous_items": {"1": "approved", "2": "denied"}}
    assert event.reason == "new evidence"
    redecided, event = lifecycle.decide(reopened, PHYSICIAN, cmd.Decide(version=reopened.version, decisions=[
        {"item_sequence": 1, "decision": "approved"}, {"item_sequence": 2, "decision": "approved"}]), NOW)
    assert redecided.status is S.DECIDED and redecided.version == 4 and redecided.preauth_ref == "CBCASE1"
    assert [i.determination.authorization_number for i in redecided.items] == ["CBCASE1-1", "CBCASE1-2"]


# ---- information requests -------------------------------------------------------------------

def request(the_case, caller=PHYSICIAN, due_by: date = date(2026, 12, 8)):
    return lifecycle.request_information(the_case, caller, cmd.RequestInformation(
        version=the_case.version, due_by=due_by,
        items=[{"code": {"code": "11506-3"}, "text": "Progress notes"}]), NOW)


def test_an_information_request_due_in_the_past_is_invalid():
    with pytest.raises(Invalid) as raised:
        request(in_state(S.IN_REVIEW), due_by=date(2026, 11, 23))
    assert raised.value.expression == "due_by"
    after, _ = request(in_state(S.IN_REVIEW), due_by=date(2026, 11, 24))  # today is fine
    assert after.status is S.INFORMATION_REQUESTED


def test_requests_are_numbered_and_answered_by_the_information():
    asked, _ = request(in_state(S.IN_REVIEW))
    assert asked.information_requests == [InformationRequest(
        id="IR1", items=[RequestedInfo(code=Code(system=f.LOINC, code="11506-3"), text="Progress notes")],
        due_by=date(2026, 12, 8), requested_at=NOW, requested_by=AS_PHYSICIAN)]
    assert asked.open_information_request.id == "IR1"
    answered, event = lifecycle.receive_information(asked, [f.document(at=NOW)], PARTNER, NOW)
    assert answered.status is S.IN_REVIEW and answered.open_information_request is None
    assert answered.information_requests[0].answered_at == NOW and answered.documents == [f.document(at=NOW)]
    assert (event.from_status, event.to_status) == (S.INFORMATION_REQUESTED, S.IN_REVIEW)
    asked_again, _ = request(answered, caller=SUPERVISOR)
    assert [r.id for r in asked_again.information_requests] == ["IR1", "IR2"]
    assert asked_again.open_information_request.requested_by == AS_SUPERVISOR


def test_requesting_information_is_for_the_assignee_or_a_supervisor():
    with pytest.raises(Forbidden):
        request(in_state(S.IN_REVIEW), caller=REVIEWER)


# ---- extensions -----------------------------------------------------------------------------

def extend(the_case, days: int, policy: ReviewPolicy = POLICY, caller=SUPERVISOR):
    return lifecycle.extend(the_case, caller, cmd.Extend(version=the_case.version, days=days, reason="records"),
                            policy, NOW)


def test_extensions_are_cumulative_up_to_what_the_rule_permits():
    """Medicare Advantage standard prior auth: 7 days, extendable by 14 (42 CFR 422.568(b)(1)(i))."""
    the_case = in_state(S.IN_REVIEW, due_at=datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc))
    once, event = extend(the_case, 10, caller=PHYSICIAN)
    assert once.due_at == datetime(2026, 12, 10, 12, 0, tzinfo=timezone.utc)
    assert once.extensions == [ClockExtension(days=10, reason="records", at=NOW, by=AS_PHYSICIAN,
                                              previous_due_at=datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc))]
    assert event.detail == {"due_at": "2026-12-10T12:00:00Z"} and event.reason == "records"
    twice, _ = extend(once, 4)
    assert twice.due_at == datetime(2026, 12, 14, 12, 0, tzinfo=timezone.utc)
    assert [e.days for e in twice.extensions] == [10, 4]
    with pytest.raises(Invalid) as raised:
        extend(twice, 1)
    assert raised.value.expression == "days" and raised.value.code == "business-rule"
    assert raised.value.message == ("42 CFR 422.568(b)(1)(i) permits at most 14 days of extension in total; "
                                    "0 days left")


def test_no_extension_where_the_rule_permits_none():
    """A Medicare Advantage payment appeal (42 CFR 422.590(b)): 60 days, no extension."""
    appeal = in_state(S.IN_REVIEW, kind=Kind.APPEAL, pre_service=False)
    with pytest.raises(Invalid) as raised:
        extend(appeal, 1)
    assert raised.value.message == "this clock (60 calendar days, 42 CFR 422.590(b)) permits no extension"


def test_extension_days_are_calendar_days_in_the_partners_zone():
    """72 hours from 2026-10-25 16:00Z, then 7 days at the same Los Angeles wall time, across the
    end of daylight saving time: one hour more than 7 x 24 hours."""
    received = datetime(2026, 10, 25, 16, 0, tzinfo=timezone.utc)
    the_case = in_state(S.IN_REVIEW, priority=Priority.EXPEDITED, received_at=received,
                        due_at=datetime(2026, 10, 28, 16, 0, tzinfo=timezone.utc))
    extended, _ = extend(the_case, 7, ReviewPolicy(time_zone="America/Los_Angeles"))
    assert extended.due_at == datetime(2026, 11, 4, 17, 0, tzinfo=timezone.utc)


def test_extending_is_for_the_assignee_or_a_supervisor():
    with pytest.raises(Forbidden):
        extend(in_state(S.IN_REVIEW), 1, caller=REVIEWER)


# ---- priority -------------------------------------------------------------------------------

def reprioritise(the_case, priority: str, reason: str | None = None):
    return lifecycle.reprioritise(the_case, SUPERVISOR, cmd.ChangePriority(
        version=the_case.version, priority=priority, reason=reason), POLICY, NOW)


def test_raising_the_priority_recomputes_due_at_from_receipt():
    the_case = in_state(S.IN_REVIEW, due_at=datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc))
    after, event = reprioritise(the_case, "expedited")
    assert after.priority is Priority.EXPEDITED
    assert after.due_at == datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)  # T0 + 72 h
    assert event.detail == {"priority": "expedited", "due_at": "2026-11-26T12:00:00Z"}


def test_a_priority_change_keeps_the_extensions():
    extended, _ = extend(in_state(S.IN_REVIEW), 5)
    after, _ = reprioritise(extended, "expedited")
    assert after.due_at == datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)  # T0 + 72 h + 5 days


def test_an_extension_carries_over_only_as_far_as_the_new_clock_permits():
    """Commercial (ERISA): 15 days extendable by 15; an urgent care claim is 72 hours, no extension."""
    commercial = ReviewPolicy(line_of_business="commercial-erisa")
    the_case = in_state(S.IN_REVIEW, line_of_business="commercial-erisa")
    extended, _ = extend(the_case, 15, commercial)
    assert extended.due_at == datetime(2026, 12, 23, 12, 0, tzinfo=timezone.utc)  # 15 + 15 days
    after, _ = lifecycle.reprioritise(extended, SUPERVISOR, cmd.ChangePriority(
        version=extended.version, priority="expedited"), commercial, NOW)
    assert after.due_at == datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)  # T0 + 72 h
    assert after.extensions == extended.extensions  # still on record
    back, _ = lifecycle.reprioritise(after, SUPERVISOR, cmd.ChangePriority(
        version=after.version, priority="standard", reason="not urgent"), commercial, NOW)
    assert back.due_at == datetime(2026, 12, 23, 12, 0, tzinfo=timezone.utc)


def test_lowering_the_priority_needs_a_reason():
    the_case = in_state(S.IN_REVIEW, priority=Priority.EXPEDITED,
                        due_at=datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc))
    with pytest.raises(Invalid) as raised:
        reprioritise(the_case, "standard")
    assert raised.value.expression == "reason" and raised.value.code == "required"
    after, event = reprioritise(the_case, "standard", reason="not urgent after all")
    assert after.due_at == datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)  # T0 + 7 days
    assert event.reason == "not urgent after all"


def test_the_same_priority_is_no_change():
    with pytest.raises(Invalid) as raised:
        reprioritise(in_state(S.IN_REVIEW), "standard", reason="x")
    assert raised.value.expression == "priority"


# ---- commands -------------------------------------------------------------------------------

@pytest.mark.parametrize("command, body", [
    (cmd.Start, {"version": "1"}),
    (cmd.Start, {"version": 0}),
    (cmd.Start, {"version": 1, "assignee": "u-x"}),
    (cmd.Extend, {"version": 1, "days": "5", "reason": "x"}),
    (cmd.Extend, {"version": 1, "days": 61, "reason": "x"}),
    (cmd.Reopen, {"version": 1, "reason": ""}),
    (cmd.RequestInformation, {"version": 1, "items": [], "due_by": "2026-12-08"}),
    (cmd.ProvideInformation, {"version": 1, "documents": [{"content_type": "application/pdf", "data": "not base64!"}]}),
    (cmd.ProvideInformation, {"version": 1, "documents": [{"content_type": "application/pdf"}]}),
    (cmd.Decide, {"version": 1, "decisions": [{"item_sequence": "1", "decision": "approved"}]}),
])
def test_commands_are_strict(command, body):
    with pytest.raises(ValidationError):
        command.model_validate(body)


def test_an_unknown_decision_lists_the_allowed_ones():
    with pytest.raises(ValidationError) as raised:
        cmd.Decide.model_validate({"version": 1, "decisions": [{"item_sequence": 1, "decision": "maybe"}]})
    assert "Input should be 'approved', 'denied', 'partial' or 'modified'" in str(raised.value)


def test_documents_come_as_base64():
    document = cmd.DocumentIn(content_type="application/pdf", data="JVBERg==")
    assert document.content == b"%PDF"


def test_an_update_moves_no_state_and_keeps_items_as_given():
    the_case = in_state(S.IN_REVIEW)
    items = [*the_case.items, Item(sequence=2)]
    after, event = lifecycle.transition(the_case, "update", PARTNER, NOW, event_type="updated", items=items)
    assert after.items == items and event.detail == {}
