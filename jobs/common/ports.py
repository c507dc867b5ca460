"""Local TCP ports: find free ones, and tell whether one is taken.

Tests start servers (Superset, a Spark standalone cluster) on ports of their own, so that two
runs on one machine, or a demo server left running, never answer each other's requests.
"""

import socket
from contextlib import ExitStack

HOST = "127.0.0.1"


def free_ports(n: int = 1) -> list[int]:
    """``n`` distinct ports nobody listens on now (the kernel's choice; free until someone binds)."""
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(n)]
        for s in socks:
            s.bind((HOST, 0))
        return [s.getsockname()[1] for s in socks]


def in_use(port: int, host: str = HOST) -> bool:
    """Whether something accepts connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1)
        return s.connect_ex((host, port)) == 0
