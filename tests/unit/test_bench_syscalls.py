"""bench/syscalls.py, the system calls and bytes per message of each server: perf's counts
are read by system call name. Its real run needs perf attached to a process (Debian's
linux-perf, root or ``kernel.perf_event_paranoid`` at 1 or less, and a kernel whose
tracepoints the machine lets it read: not every virtual machine does), which the suite
cannot count on finding and may not skip for: it is a measure, run by hand
(bench/PROFILE.md, "Round syscalls")."""

from __future__ import annotations

from bench.syscalls import perf_counts


def test_perf_s_counts_are_read_by_system_call_name(tmp_path) -> None:
    out = tmp_path / "perf.txt"
    out.write_text("# started on Wed Dec  2 15:00:00 2026\n\n"
                   "98765,,raw_syscalls:sys_enter,2000000,100.00,,\n"
                   "12,,sched:sched_switch,2000000,100.00,,\n"
                   "60000,,syscalls:sys_enter_sendto,2000000,100.00,,\n"
                   "<not counted>,,syscalls:sys_enter_epoll_wait,0,0.00,,\n")
    assert perf_counts(str(out)) == {"all": 98765, "switches": 12, "sendto": 60000, "epoll_wait": 0}
