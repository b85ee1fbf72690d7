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
    serve.add_argument("--mllp-tls-cert", metavar="PEM", help="MLLP over TLS: the listener's certificate (chain)")
    serve.add_argument("--mllp-tls-key", metavar="PEM", help="MLLP over TLS: the listener's private key")
    serve.add_argument("--mllp-client-ca", metavar="PEM",
                       help="MLLP over TLS: the CA that signs partners' client certificates (one is required)")
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
    tls_files = (args.mllp_tls_cert, args.mllp_tls_key, args.mllp_client_ca)
    if any(tls_files) and not all(tls_files):
        print("claimbridge: MLLP over TLS needs --mllp-tls-cert, --mllp-tls-key and --mllp-client-ca", file=sys.stderr)
        return 2
    try:
        from adapters.hl7v2.mllp import server_tls

        mllp_tls = server_tls(*tls_files) if all(tls_files) else None
    except (OSError, ValueError) as err:  # ssl.SSLError is an OSError
        print(f"claimbridge: the MLLP TLS files: {err}", file=sys.stderr)
        return 2
    if busy := _busy_port(args.host, {"--port": args.port, "--mllp-port": args.mllp_port}):
        option, port, reason = busy
        what = "MLLP" if option == "--mllp-port" else "HTTP"
        print(f"claimbridge: cannot listen on {args.host}:{port} for {what}: {reason}; choose another port with "
              f"{option} (make run ARGS=\"{option} {port + 1}\")", file=sys.stderr)
        return 1
    try:
        stack = LocalStack(args.host, args.port, str(partners), mllp_port=args.mllp_port, data_dir=args.data_dir,
                           public_url=args.public_url, signing_key=args.signing_key, reviewers_file=args.reviewers,
                           monitor_interval=args.monitor_interval or None, mllp_tls=mllp_tls)
        stack.user_pool.jwks()
    except (OSError, ValueError) as err:
        print(f"claimbridge: the local user pool: {err}", file=sys.stderr)
        return 1
    try:
        stack.start()
    except OSError as err:  # taken between the check and the start
        print(f"claimbridge: cannot listen on {args.host}:{args.port} (--port) or {args.host}:{args.mllp_port} "
              f"(--mllp-port): {err.strerror or err}", file=sys.stderr)
        return 1
    with urllib.request.urlopen(f"{stack.base_url}/fhir/metadata", timeout=30) as ready:
        assert ready.status == 200
    print(f"claimbridge serving {stack.base_url}/fhir  (reviewer API {stack.base_url}/cases)", flush=True)
    over = "MLLP over TLS (client certificates required)" if mllp_tls else "MLLP"
    print(f"HL7 v2 over {over} on {args.host}:{stack.mllp_port}, over HTTP at {stack.base_url}/hl7v2", flush=True)
    if stack.aws_endpoint:
        kept = f", kept in {args.data_dir} ({stack.replayed} writes replayed)" if args.data_dir else ", in memory"
        print(f"embedded DynamoDB/S3 endpoint {stack.aws_endpoint}{kept}", flush=True)
    if demo_token:
        print(f"demo partner token: {demo_token}", flush=True)
    if reviewers := list(stack.user_pool.reviewers):
        same_key = f" --signing-key {args.signing_key}" if args.signing_key else ""
        print(f"demo reviewers: {', '.join(reviewers)}; a bearer token for one: "
              f"claimbridge token {reviewers[0]}{same_key}", flush=True)
    stop = stop_on_sigterm()
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    stack.stop()
    return 0


def stop_on_sigterm() -> threading.Event:
    """An Event the first SIGTERM sets. Later ones are ignored: `make run` stopped with its process
    group passes its own SIGTERM on, and a second signal handled inside the first one's set() waited
    for the Event's lock, which the first held (not reentrant): the stack never stopped."""
    stop = threading.Event()

    def terminate(*_) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop.set()
    signal.signal(signal.SIGTERM, terminate)
    return stop


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


def _busy_port(host: str, ports: dict[str, int]) -> tuple[str, int, str] | None:
    """The first of the ports (by the option that sets it) that cannot be listened on, and why;
    checked before the stack starts so that the message names the port and its option. Binding
    as the listeners do (address reuse on: a port in TIME_WAIT is free, one with a listener is not)."""
    import socket

    for option, port in ports.items():
        if not port:  # 0: any free port
            continue
        try:
            with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind((host, port))
        except OSError as err:
            return option, port, (err.strerror or str(err)).lower()
    return None


def _resolve(host: str) -> str:
    import socket

    return socket.gethostbyname(host)


if __name__ == "__main__":
    sys.exit(main())
