"""Serve the site: `python -m chatsite.serve [--host H] [--port P]`.

The one place that picks the ASGI server and its options. uvicorn on uvloop with
httptools measured better than daphne on every benchmark figure (bench/README.md):
lower added latency, about 40 % less time to first token when many replies start
together, twice the streams per process. Of its websocket implementations,
`websockets-sansio` measured as fast as the legacy `websockets` one or faster
(bench/README.md); uvicorn deprecates the legacy one, with a warning at every start.
"""

import argparse
import os

import uvicorn
from django.conf import settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    uvicorn.run(
        "chatsite.asgi:application",
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        # Keepalive pings need uvicorn >= 0.44 here (pyproject.toml pins it).
        ws="websockets-sansio",
        # Compressing every small delta frame cost more CPU than it saved.
        ws_per_message_deflate=False,
        # A frame over the largest a message can be is closed with 1009 before it
        # is read (the default, 16 MB, would be read and parsed); few are queued.
        ws_max_size=settings.CHAT_WS_MAX_BYTES,
        ws_max_queue=4,
        # Pings keep idle proxies from cutting a socket; below nginx's read timeout.
        ws_ping_interval=20,
        ws_ping_timeout=20,
        # Channels' router speaks no lifespan protocol.
        lifespan="off",
        # Behind a proxy on this host, trust its X-Forwarded-For / -Proto.
        proxy_headers=True,
        forwarded_allow_ips=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
        log_level=os.environ.get("LOG_LEVEL", "info").lower(),
        access_log=os.environ.get("ACCESS_LOG", "true").lower() == "true",
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
