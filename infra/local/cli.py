"""`claimbridge` command line: `claimbridge serve` runs the whole stack on this machine;
`claimbridge send` sends HL7 v2 files to it (or to any MLLP listener or deployed endpoint);
`claimbridge token USER` prints a demo reviewer's bearer token for it; `claimbridge deliveries` and
`claimbridge redrive` show and redrive what the outbox owes (infra/local/operate.py)."""
from __future__ import annotations

import argparse
import ipaddress
import os
import json
import signal
import sys
import threading
import urllib.request
from pathlib import Path

import yaml

from . import operate

DEFAULT_PARTNERS = Path(__file__).with_name("partners.yaml")
DEFAULT_REVIEWERS = Path(__file__).with_name("reviewers.yaml")
DEFAULT_URL = "http://127.0.0.1:8080"
KEY_HELP = "the local user pool's signing key, made there if missing " \
           "(default: $CLAIMBRIDGE_SIGNING_KEY, else ~/.claimbridge/local-signing-key.pem)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="claimbridge", description="claims-integration adapter")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the API and an embedded DynamoDB on this machine")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--mllp-port", type=int, default=2575,
                       help="HL7 v2 MLLP listener port (0 picks a free one)")
    serve.add_argument("--partners", default=str(DEFAULT_PARTNERS), help="partners YAML file")
    serve.add_argument("--data-dir", metavar="DIR",
                       help="keep the embedded DynamoDB and S3 in DIR across restarts (default: in memory)")
    serve.add_argument("--public-url", metavar="URL",
                       help="base URL clients reach the stack at, for absolute URLs in answers "
                            "(default: $PUBLIC_BASE_URL, else the listening address)")
    serve.add_argument("--signing-key", metavar="PATH", help=KEY_HELP)
    serve.add_argument("--monitor-interval", type=float, default=60.0, metavar="SECONDS",
                       help="run the SLA monitor (the template's scheduled function) this often; 0 never (default 60)")
    serve.add_argument("--reviewers", default=str(DEFAULT_REVIEWERS), metavar="PATH",
                       help="demo reviewers YAML file (the local stand-in for the Cognito user pool)")
    send = commands.add_parser("send", help="send HL7 v2 files over MLLP or HTTP and tally the acknowledgments")
    send.add_argument("files", nargs="+", metavar="FILE", help="HL7 v2 message or batch file")
    target = send.add_mutually_exclusive_group()
    target.add_argument("--mllp", metavar="HOST:PORT", help="MLLP listener (default 127.0.0.1:2575)")
    target.add_argument("--http", metavar="URL", help="base URL; each file is POSTed whole to URL/hl7v2")
    send.add_argument("--token", help="bearer token for --http (default $CLAIMBRIDGE_TOKEN)")
    send.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for each answer")
    token = commands.add_parser("token", help="print a demo reviewer's bearer token (a local user pool ID token)")
    token.add_argument("user", metavar="USER", help="a username of the reviewers file, e.g. dr-demo")
    token.add_argument("--url", metavar="BASE", help="ask the stack at BASE for it (default: sign with the signing "
                                                     f"key when that file exists, else ask {DEFAULT_URL})")
    _token_options(token)
    operate.add_commands(commands, DEFAULT_URL, _token_options)
    args = parser.parse_args(argv)
    if args.command == "send":
        from .send import run

        return run(args)
    if args.command == "token":
        return print_token(args)
    if args.command in ("deliveries", "redrive"):
        return operate.run(args, lambda a, user: reviewer_token(a.url, user, a.signing_key, a.reviewers))
    return serve_forever(args)


def _token_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--signing-key", metavar="PATH", help=KEY_HELP.replace(", made there if missing", ""))
    command.add_argument("--reviewers", default=str(DEFAULT_REVIEWERS), metavar="PATH",
                         help="demo reviewers YAML file, when signing here")


def print_token(args: argparse.Namespace) -> int:
    """The token alone on stdout, so `-H "Authorization: Bearer $(claimbridge token dr-demo)"` works."""
    try:
        token = reviewer_token(args.url, args.user, args.signing_key, args.reviewers)
    except LookupError as err:  # an unknown reviewer
        print(f"claimbridge: {err}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as err:  # no stack to ask, or a key file that is not a key
        print(f"claimbridge: no token: {err}", file=sys.stderr)
        return 1
    print(token)
    return 0


def reviewer_token(url: str | None, user: str, signing_key: str | None, reviewers: str) -> str:
    """From the stack at `url`, when given; else signed here with the stack's key when that file
    exists (the stack need not be up), else from the stack at the default URL."""
    if url:
        return _token_from_stack(url, user)
    from .identity import LocalUserPool, default_key_path

    key = Path(signing_key) if signing_key else default_key_path()
    if key.exists():
        return LocalUserPool(reviewers, key).token(user)
    try:
        return _token_from_stack(DEFAULT_URL, user)
    except OSError as err:
        raise OSError(f"no signing key at {key}, and {err}") from None


def _token_from_stack(base: str, user: str) -> str:
    import urllib.error

    request = urllib.request.Request(f"{base.rstrip('/')}/local/token", json.dumps({"username": user}).encode(),
                                     {"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.load(answer)["id_token"]
    except urllib.error.HTTPError as err:
        try:
            reason = json.load(err)["issue"][0]["diagnostics"]
        except (ValueError, KeyError, IndexError, TypeError):
            reason = f"{base} answered {err.code}"
        if err.code == 404:
            raise LookupError(reason) from None
        raise OSError(reason) from None
    except urllib.error.URLError as err:
        raise OSError(f"cannot reach {base}: {err.reason}") from None


def serve_forever(args: argparse.Namespace) -> int:
    from .stack import LocalStack

    few_malloc_arenas()
    # EMF metric lines are for CloudWatch; here they would crowd the console (set it to "false" to see them).
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    partners = Path(args.partners)
    doc = yaml.safe_load(partners.read_text()) or {}
    demo_token = doc.get("local_demo_token")
    if demo_token and not ipaddress.ip_address(_resolve(args.host)).is_loopback:
        print("claimbridge: the demo partners file is for loopback only; pass --partners", file=sys.stderr)
        return 2
    try:
        stack = LocalStack(args.host, args.port, str(partners), mllp_port=args.mllp_port, data_dir=args.data_dir,
                           public_url=args.public_url, signing_key=args.signing_key, reviewers_file=args.reviewers,
                           monitor_interval=args.monitor_interval or None)
        stack.user_pool.jwks()
    except (OSError, ValueError) as err:
        print(f"claimbridge: the local user pool: {err}", file=sys.stderr)
        return 1
    try:
        stack.start()
    except OSError as err:
        print(f"claimbridge: cannot listen on {args.host}:{args.port}: {err.strerror}", file=sys.stderr)
        return 1
    with urllib.request.urlopen(f"{stack.base_url}/fhir/metadata", timeout=30) as ready:
        assert ready.status == 200
    print(f"claimbridge serving {stack.base_url}/fhir  (reviewer API {stack.base_url}/cases)", flush=True)
    print(f"HL7 v2 over MLLP on {args.host}:{stack.mllp_port}, over HTTP at {stack.base_url}/hl7v2", flush=True)
    if stack.aws_endpoint:
        kept = f", kept in {args.data_dir} ({stack.replayed} writes replayed)" if args.data_dir else ", in memory"
        print(f"embedded DynamoDB/S3 endpoint {stack.aws_endpoint}{kept}", flush=True)
    if demo_token:
        print(f"demo partner token: {demo_token}", flush=True)
    if reviewers := list(stack.user_pool.reviewers):
        same_key = f" --signing-key {args.signing_key}" if args.signing_key else ""
        print(f"demo reviewers: {', '.join(reviewers)}; a bearer token for one: "
              f"claimbridge token {reviewers[0]}{same_key}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    stack.stop()
    return 0


M_ARENA_MAX = -8  # glibc's mallopt parameter (malloc.h)


def few_malloc_arenas(arenas: int = 2) -> None:
    """glibc gives threads that allocate at once arenas of their own, up to eight per core. The
    stack's connection and handler threads left the large strings it keeps (case documents,
    archived payloads) spread thinly over them. Two arenas keep memory close to the data (measured,
    MLLP over 8 connections: 143 -> 127 MB per 5,000 messages). Elsewhere than glibc, nothing."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, arenas)
    except (OSError, AttributeError):
        pass


def _resolve(host: str) -> str:
    import socket

    return socket.gethostbyname(host)


if __name__ == "__main__":
    sys.exit(main())
