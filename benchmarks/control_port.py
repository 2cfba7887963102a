"""The ground station's control port: commands per second through its server core
(:class:`hal.control.ControlServer`: token, bounded lines, depth check, non-blocking outbox)
and the station's request validator (:func:`ground_tools.control_messages.parse_request`, the
pydantic models), beside the same commands through the same server with the validation left
out. Each command is then encoded with the flight dictionary and packed as a telecommand, as
the station does before it queues one (the space link is not in the figure).

A client on 127.0.0.1 pipelines the requests in batches and reads every reply; the server runs
in a process of its own. Rounds alternate between the two handlers and the best round
of each counts (the machine is shared and noisy).
"""

from __future__ import annotations

import json
import multiprocessing
import secrets
import socket
import time
from typing import Any

from fsw.dictionary import node_dictionary
from ground_tools.control_messages import CmdRequest, parse_request
from hal.control import ControlServer, hello
from hal.protocol.pus import PusTc, RequestId

COMMANDS: list[dict[str, Any]] = [
    {"op": "cmd", "node": "lander", "name": "core.ping", "args": {}, "source": "bench"},
    {"op": "cmd", "node": "lander", "name": "modes.set", "args": {"mode": 1}, "source": "bench"},
]
BATCH = 100


def _send_command(node: str, name: str, args: dict[str, Any], seq: int) -> dict[str, Any]:
    d = node_dictionary(node)
    command = d.command(name)
    data = command.encode(**args)
    message = command.message
    packet = PusTc(d.apid, message.service, message.subtype, data, seq_count=seq & 0x3FFF)
    return {"request_id": RequestId.of(packet).pack().hex()}


class _Handlers:
    def __init__(self) -> None:
        self.seq = 0
        self.errors = 0

    def validated(self, conn: Any, request: dict[str, Any]) -> dict[str, Any]:
        self.seq += 1
        try:
            model = parse_request(request)
        except ValueError as exc:
            self.errors += 1
            return {"error": str(exc)}
        assert isinstance(model, CmdRequest)
        return _send_command(model.node, model.name, dict(model.args), self.seq)

    def plain(self, conn: Any, request: dict[str, Any]) -> dict[str, Any]:
        self.seq += 1
        return _send_command(request["node"], request["name"], request["args"], self.seq)


def _round(address: tuple[str, int], token: str, count: int) -> float:
    """Commands per second for ``count`` commands through one connection."""
    lines = [json.dumps(COMMANDS[i % len(COMMANDS)]).encode() + b"\n" for i in range(BATCH)]
    batch = b"".join(lines)
    with socket.create_connection(address, timeout=30) as sock:
        hello(sock, token)
        stream = sock.makefile("rb")
        start = time.perf_counter()
        done = 0
        while done < count:
            sock.sendall(batch)
            for _ in range(BATCH):
                reply = json.loads(stream.readline())
                if "request_id" not in reply:
                    raise RuntimeError(f"control-port benchmark: refused: {reply}")
            done += BATCH
        elapsed = time.perf_counter() - start
        stream.close()
    return done / elapsed


def _serve(token: str, validate: bool, pipe: Any) -> None:
    """The server process: serve until the parent closes its end of ``pipe``."""
    handlers = _Handlers()
    handler = handlers.validated if validate else handlers.plain
    server = ControlServer(handler, token=token, name="benchmark")
    server.watch(pipe.fileno())
    pipe.send(server.address)
    while not pipe.poll():
        server.serve(1.0)
    server.close()


def run(count: int = 10_000, rounds: int = 5) -> dict[str, Any]:
    """Commands per second with and without validation, and their ratio."""
    token = secrets.token_hex(32)
    context = multiprocessing.get_context("fork")
    best = {"validated": 0.0, "plain": 0.0}
    for _ in range(rounds):
        for validate in (False, True):
            ours, theirs = context.Pipe()
            server = context.Process(target=_serve, args=(token, validate, theirs), daemon=True)
            server.start()
            try:
                if not ours.poll(30):
                    raise RuntimeError("control-port benchmark: the server did not start")
                rate = _round(tuple(ours.recv()), token, count)
            finally:
                ours.send("stop")
                server.join(10)
                if server.is_alive():
                    server.kill()
            key = "validated" if validate else "plain"
            best[key] = max(best[key], rate)
    return {
        "commands": count,
        "validated_per_second": best["validated"],
        "plain_per_second": best["plain"],
        "ratio": best["validated"] / best["plain"],
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
