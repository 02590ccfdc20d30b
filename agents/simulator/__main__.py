"""`python -m agents.simulator --port 8765 --latency 0.5 --errors 429=0.1,529=0.05`."""

from __future__ import annotations

import argparse
import signal
import sys

from agents.simulator.server import Simulator, SimulatorConfig


def parse_rates(raw: str) -> dict[int, float]:
    rates = {}
    for part in filter(None, raw.split(",")):
        status, _, rate = part.partition("=")
        rates[int(status)] = float(rate)
    return rates


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Simulated Anthropic Messages API on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each reply")
    parser.add_argument(
        "--chunk-delay", type=float, default=0.0, help="seconds between streamed chunks"
    )
    parser.add_argument("--errors", default="", help="status=rate pairs, e.g. 429=0.1,529=0.05")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    config = SimulatorConfig(
        latency=args.latency,
        chunk_delay=args.chunk_delay,
        error_rates=parse_rates(args.errors),
        seed=args.seed,
    )
    simulator = Simulator(config, host=args.host, port=args.port)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"Simulated Messages API on {simulator.url}", flush=True)
    try:
        simulator.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        simulator.httpd.server_close()


if __name__ == "__main__":
    main()
