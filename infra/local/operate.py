"""`claimbridge deliveries` and `claimbridge redrive`: what the outbox still owes, and dead-lettered
deliveries sent again.

- `--url BASE` (default the local stack): through the review API as a supervisor (`--as USER`, by
  default the first supervisor of the reviewers file; the token as `claimbridge token` gets it).
- `--stack NAME` (a deployed stack, normal AWS credentials): the table's Deliveries index read
  directly; `redrive --all-failed` starts an SQS message move task from the dead-letter queue back
  to the delivery queue; `redrive --case ID` owes that case's dead records again in the table (the
  stream and its Pipe feed them to the queue).
One line per case and target, the case id first: case, target, state, notice, case version, tries,
last answer, next try.
"""
from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from typing import Any

DEAD = "dead"


def add_commands(commands: Any, default_url: str, token_options: Any) -> None:
    deliveries = commands.add_parser("deliveries", help="list delivery state, one line per case and target")
    deliveries.add_argument("--failed", action="store_true", help="dead-lettered deliveries only")
    deliveries.add_argument("--case", metavar="ID", help="one case's deliveries, every state")
    redrive = commands.add_parser("redrive", help="send dead-lettered deliveries again")
    which = redrive.add_mutually_exclusive_group(required=True)
    which.add_argument("--case", metavar="ID", help="one case's dead deliveries")
    which.add_argument("--all-failed", action="store_true", help="every dead delivery")
    for command in (deliveries, redrive):
        where = command.add_mutually_exclusive_group()
        where.add_argument("--url", metavar="BASE", default=default_url, help=f"the local stack (default {default_url})")
        where.add_argument("--stack", metavar="NAME", help="a deployed CloudFormation stack (AWS credentials)")
        command.add_argument("--as", dest="user", metavar="USER", help="the supervisor to act as, with --url "
                                                                        "(default: the reviewers file's first)")
        token_options(command)


def run(args: argparse.Namespace, token: Any) -> int:
    try:
        if args.stack:
            records = _on_aws(args)
        else:
            records = _through_api(args, token(args, args.user or _first_supervisor(args.reviewers)))
    except (OSError, LookupError, ValueError) as err:
        print(f"claimbridge: {err}", file=sys.stderr)
        return 1
    for record in records:
        print(line(record))
    if args.command == "redrive":
        print(f"{len(records)} deliveries owed again", file=sys.stderr)
    return 0


def line(record: dict) -> str:
    last = (record.get("attempts") or [{}])[-1]
    answer = " ".join(str(v) for v in (last.get("code"), last.get("error")) if v) or "-"
    return "\t".join([record["case_id"], record["target"], record["state"], record["notice"],
                      f"v{record['case_version']}", f"tries={record.get('tries', 0)}", f"last={answer}",
                      f"next={last.get('next_at') or '-'}"])


def _through_api(args: argparse.Namespace, token: str) -> list[dict]:
    base = args.url.rstrip("/")
    if args.command == "redrive":
        body = {"case_id": args.case} if args.case else {}
        return _call("POST", f"{base}/deliveries/redrive", token, body)["deliveries"]
    query = [("case_id", args.case)] if args.case else []
    query += [("state", DEAD)] if args.failed else []
    from urllib.parse import urlencode

    return _call("GET", f"{base}/deliveries" + (f"?{urlencode(query)}" if query else ""), token)["deliveries"]


def _call(method: str, url: str, token: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode() if body is not None else None,
                                     {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                                     method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return json.load(answer)
    except urllib.error.HTTPError as err:
        try:
            detail = json.load(err)
            reason = detail["issue"][0]["diagnostics"] if "issue" in detail else detail.get("message", "")
        except (ValueError, KeyError, IndexError, TypeError):
            reason = ""
        raise OSError(f"{url} answered {err.code} {reason}".rstrip()) from None
    except urllib.error.URLError as err:
        raise OSError(f"cannot reach {url}: {err.reason}") from None


def _first_supervisor(reviewers_file: str) -> str:
    import yaml

    with open(reviewers_file) as f:
        users = (yaml.safe_load(f) or {}).get("reviewers", [])
    found = next((u["username"] for u in users if "supervisor" in u.get("groups", [])), None)
    if found is None:
        raise LookupError(f"no supervisor in {reviewers_file}: pass --as USER")
    return found


def _on_aws(args: argparse.Namespace) -> list[dict]:
    import boto3

    from adapters.case_store import DynamoCaseRepository
    from review import delivery
    from review.outbox import DeliveryState
    from review.services import UNDELIVERED

    outputs = {o["OutputKey"]: o["OutputValue"] for o in
               boto3.client("cloudformation").describe_stacks(StackName=args.stack)["Stacks"][0].get("Outputs", [])}
    cases = DynamoCaseRepository(boto3.client("dynamodb"), outputs["CasesTableName"])
    if args.command == "redrive" and args.all_failed:
        boto3.client("sqs").start_message_move_task(SourceArn=outputs["DeliveryDeadLettersArn"],
                                                    DestinationArn=outputs["DeliveryQueueArn"])
        return [r.model_dump(mode="json") for r in cases.undelivered(DeliveryState.DEAD)]
    if args.command == "redrive":
        return [r.model_dump(mode="json") for r in delivery.redrive(cases, args.case)]
    dead = [DeliveryState.DEAD]
    if args.case:
        records = [r for r in cases.outbox(args.case) if not args.failed or r.state in dead]
    else:
        records = [r for state in (dead if args.failed else UNDELIVERED) for r in cases.undelivered(state)]
    return [r.model_dump(mode="json") for r in records]
