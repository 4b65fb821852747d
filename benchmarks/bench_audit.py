"""`make bench`: what the audit log's durability modes cost, side by side.

Entries per second appended by one process and by four processes sharing
the log (locust workers do that), with `fsync` durability (every entry on
disk before `record` returns) and `group` durability (an fsync every 100
entries), then how fast `audit verify` checks the result. The numbers
depend on the disk (a tmpfs makes fsync nearly free); compare the ratios.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.audit import AuditLog, Durability, verify_log

WRITER = """
import sys
from harness.audit import AuditLog
log = AuditLog(sys.argv[1], durability=sys.argv[2])
for index in range(int(sys.argv[3])):
    log.record(integration_id="int_bench", integration_name="bench",
               status="SUCCESS", latency_ms=12.5, attempts=1)
log.close()
"""


def one_process(path: Path, durability: Durability, entries: int) -> float:
    log = AuditLog(path, durability=durability)
    started = time.perf_counter()
    for _ in range(entries):
        log.record(
            integration_id="int_bench",
            integration_name="bench",
            status="SUCCESS",
            latency_ms=12.5,
            attempts=1,
        )
    log.close()
    return entries / (time.perf_counter() - started)


def many_processes(
    path: Path, durability: Durability, entries: int, processes: int
) -> float:
    started = time.perf_counter()
    writers = [
        subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [sys.executable, "-c", WRITER, str(path), durability, str(entries)]
        )
        for _ in range(processes)
    ]
    if any(writer.wait() != 0 for writer in writers):
        raise SystemExit("a writer process failed")
    # Process start-up is counted too: it is small next to the writes.
    return entries * processes / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--processes", type=int, default=4)
    args = parser.parse_args()
    per_process = args.entries // args.processes

    print(f"audit log: entries/s ({args.entries} entries per mode)")
    rates: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for mode in ("fsync", "group"):
            single = Path(scratch, f"{mode}-1.jsonl")
            shared = Path(scratch, f"{mode}-n.jsonl")
            rates[f"{mode}, 1 process"] = one_process(single, mode, args.entries)
            rates[f"{mode}, {args.processes} processes"] = many_processes(
                shared, mode, per_process, args.processes
            )
            result = verify_log(shared)
            if not result.ok:
                raise SystemExit(f"{shared}: {result.reason}")

        started = time.perf_counter()
        checked = verify_log(Path(scratch, "group-1.jsonl")).entries
        verify_rate = checked / (time.perf_counter() - started)

    slowest = min(rates.values())
    for name, rate in rates.items():
        print(f"  {name:<24} {rate:>9.0f} /s   x{rate / slowest:.1f}")
    print(f"  {'audit verify':<24} {verify_rate:>9.0f} entries/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
