"""`python -m infra.mllp`: the MLLP front service. Frames arriving on $MLLP_PORT (default 2575) go to the
same HL7 v2 intake as the HTTP endpoint; the load balancer in front terminates TLS.

SIGTERM (ECS stopping the task) stops accepting, lets messages being handled finish and answers them,
then exits, inside the task definition's stop timeout.
"""
from __future__ import annotations

import asyncio
import os
import signal
import sys

from adapters.hl7v2.mllp import MllpListener

# Under the NLB's fixed 350 s TCP idle timeout, so an idle connection is closed by us, cleanly,
# rather than silently dropped by the load balancer.
IDLE_TIMEOUT = 300.0


def main() -> int:
    # Imported here, not at the top: importing the intake builds its services from the environment.
    from functions.hl7v2.intake import handle_message

    listener = MllpListener(os.environ.get("MLLP_HOST", "0.0.0.0"),  # nosec B104: the container's only port
                            int(os.environ.get("MLLP_PORT", "2575")), handle_message, idle_timeout=IDLE_TIMEOUT)
    asyncio.run(_serve(listener))
    return 0


async def _serve(listener: MllpListener) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, listener.stop)
    await listener.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
