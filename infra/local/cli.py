"""`claimbridge` command line: `claimbridge serve` runs the whole stack on this machine;
`claimbridge send` sends HL7 v2 files to it (or to any MLLP listener or deployed endpoint)."""
from __future__ import annotations

import argparse
import ipaddress
import signal
import sys
import threading
import urllib.request
from pathlib import Path

import yaml

DEFAULT_PARTNERS = Path(__file__).with_name("partners.yaml")


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
    send = commands.add_parser("send", help="send HL7 v2 files over MLLP or HTTP and tally the acknowledgments")
    send.add_argument("files", nargs="+", metavar="FILE", help="HL7 v2 message or batch file")
    target = send.add_mutually_exclusive_group()
    target.add_argument("--mllp", metavar="HOST:PORT", help="MLLP listener (default 127.0.0.1:2575)")
    target.add_argument("--http", metavar="URL", help="base URL; each file is POSTed whole to URL/hl7v2")
    send.add_argument("--token", help="bearer token for --http (default $CLAIMBRIDGE_TOKEN)")
    send.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for each answer")
    args = parser.parse_args(argv)
    if args.command == "send":
        from .send import run

        return run(args)
    return serve_forever(args)


def serve_forever(args: argparse.Namespace) -> int:
    from .stack import LocalStack

    few_malloc_arenas()
    partners = Path(args.partners)
    doc = yaml.safe_load(partners.read_text()) or {}
    demo_token = doc.get("local_demo_token")
    if demo_token and not ipaddress.ip_address(_resolve(args.host)).is_loopback:
        print("claimbridge: the demo partners file is for loopback only; pass --partners", file=sys.stderr)
        return 2
    try:
        stack = LocalStack(args.host, args.port, str(partners), mllp_port=args.mllp_port, data_dir=args.data_dir,
                           public_url=args.public_url).start()
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
