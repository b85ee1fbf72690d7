"""The console's static files (console/), as CloudFront serves them on AWS: with the security
headers of template.yaml's ConsoleHeaders policy, index.html for every deep link, and config.json
made here (on AWS, the ConsoleRouter function makes it): locally, sign-in is the demo users' page."""
from __future__ import annotations

import json
import mimetypes
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "console"
PREFIX = "/console/"
TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".html": "text/html; charset=utf-8", ".json": "application/json", ".svg": "image/svg+xml"}
LOCAL_CONFIG = {"signIn": "local"}

Answer = tuple[int, dict[str, str], bytes]
NOT_FOUND: Answer = (404, {"Content-Type": "text/plain; charset=utf-8"}, b"404 Not Found\n")


class ConsoleFiles:
    def __init__(self, headers: dict[str, str], root: Path = ROOT):
        self.headers = headers  # the Content-Security-Policy and its companions
        self.root = root.resolve()

    def answer(self, method: str, path: str) -> Answer | None:
        """The answer for a console path; None for any other path."""
        if path == "/" or path == PREFIX.rstrip("/"):
            return 302, {"Location": PREFIX}, b""
        if not path.startswith(PREFIX):
            return None
        if method not in ("GET", "HEAD"):
            return 405, {"Allow": "GET, HEAD", "Content-Type": "text/plain; charset=utf-8"}, b"405 Method Not Allowed\n"
        name = path[len(PREFIX):]
        if name == "config.json":
            return 200, {"Content-Type": "application/json", "Cache-Control": "no-store"}, json.dumps(LOCAL_CONFIG).encode()
        try:
            file = (self.root / name).resolve()
            if file.is_relative_to(self.root) and file.is_file():
                return self._file(file)
        except (ValueError, OSError):  # a NUL byte, a name too long: no such file
            return NOT_FOUND
        if "." not in name.rsplit("/", 1)[-1]:  # a deep link: the page routes it
            return self._file(self.root / "index.html")
        return NOT_FOUND

    def _file(self, file: Path) -> Answer:
        kind = TYPES.get(file.suffix) or mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        return 200, {"Content-Type": kind, "Cache-Control": "no-cache", **self.headers}, file.read_bytes()
