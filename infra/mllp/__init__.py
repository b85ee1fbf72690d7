"""The MLLP front service: `python -m infra.mllp` in the container that Dockerfile builds and template.yaml
runs. `listener()` is that service's listener, which `claimbridge serve` runs too."""
from __future__ import annotations

import ssl


def listener(host: str, port: int, *, tls: ssl.SSLContext | None = None, **options):
    """An MLLP listener handing each connection's frames to the HL7 v2 intake as the partner the
    connection proves: its client certificate when `tls` is given (see adapters.hl7v2.mllp.server_tls),
    else its source address (functions/hl7v2/senders.py). `options` go to MllpListener."""
    # Imported here: importing the intake builds its services from the environment.
    from adapters.hl7v2.mllp import MllpListener
    from functions.hl7v2.intake import handle_message
    from functions.hl7v2.senders import mllp_handle

    return MllpListener(host, port, handle_message, tls=tls, admit=mllp_handle, **options)
