"""Templates and static files of the kiosk, clerk console and supervisor pages."""

from pathlib import Path

ROOT = Path(__file__).parent
TEMPLATES = ROOT / "templates"
STATIC = ROOT / "static"
# npm's socket.io-client, installed by `npm ci` in web/ (see .ci/run and README.md).
SOCKET_IO_CLIENT = ROOT / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"
