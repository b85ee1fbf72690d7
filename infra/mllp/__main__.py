"""`python -m infra.mllp`: the MLLP front service. Frames arriving on $MLLP_PORT (default 2575) go to the
same HL7 v2 intake as the HTTP endpoint, as the partner each connection proves.

TLS is terminated here, not at the load balancer, so that the listener sees each engine's client
certificate: $MLLP_TLS_CERT, $MLLP_TLS_KEY and $MLLP_TLS_CLIENT_CA hold PEM text (the task definition
injects them from a Secrets Manager secret). Without them the service speaks plain MLLP (a container
run locally); partners are then told apart by source address only.

SIGTERM (ECS stopping the task) stops accepting, lets messages being handled finish and answers them,
then exits, inside the task definition's stop timeout.
"""
from __future__ import annotations

import asyncio
import os
import signal
import ssl
import sys

from adapters.hl7v2.mllp import MllpListener, server_tls
from infra.mllp import listener

# Under the NLB's fixed 350 s TCP idle timeout, so an idle connection is closed by us, cleanly,
# rather than silently dropped by the load balancer.
IDLE_TIMEOUT = 300.0
TLS_VARIABLES = ("MLLP_TLS_CERT", "MLLP_TLS_KEY", "MLLP_TLS_CLIENT_CA")


def main() -> int:
    try:
        tls = tls_from_environment(os.environ)
    except (ValueError, ssl.SSLError) as err:
        print(f"infra.mllp: {err}", file=sys.stderr)
        return 2
    service = listener(os.environ.get("MLLP_HOST", "0.0.0.0"),  # nosec B104: the container's only port
                       int(os.environ.get("MLLP_PORT", "2575")), tls=tls, idle_timeout=IDLE_TIMEOUT)
    asyncio.run(_serve(service))
    return 0


def tls_from_environment(environ) -> ssl.SSLContext | None:
    """The listener's TLS from PEM text in the environment: all three variables, or none."""
    given = [name for name in TLS_VARIABLES if environ.get(name)]
    if not given:
        return None
    if len(given) < len(TLS_VARIABLES):
        raise ValueError(f"set all of {', '.join(TLS_VARIABLES)} or none (missing: "
                         f"{', '.join(n for n in TLS_VARIABLES if n not in given)})")
    cert, key = (_in_memory_file(environ[name]) for name in TLS_VARIABLES[:2])
    try:
        return server_tls(cert, key, client_ca_pem=environ["MLLP_TLS_CLIENT_CA"])
    finally:
        for path in (cert, key):
            os.close(int(path.rsplit("/", 1)[1]))


def _in_memory_file(pem: str) -> str:
    """A path to `pem`'s bytes that load_cert_chain (which reads files only) can open: an anonymous
    in-memory file, so the key never touches a disk (the task's root filesystem is read-only anyway)."""
    fd = os.memfd_create("mllp-tls", os.MFD_CLOEXEC)
    os.write(fd, pem.encode())
    return f"/proc/self/fd/{fd}"


async def _serve(service: MllpListener) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, service.stop)
    await service.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
