"""The sandboxed tools, run for real under bubblewrap (installed by .ci/run)."""

from __future__ import annotations

import logging
import os
import re
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agents.engine import sandbox
from agents.engine.sandbox import (
    ENTRY_BYTES,
    UID_BASE,
    UID_COUNT,
    Completed,
    QuotaCheck,
    SandboxLimits,
    SandboxTools,
    collect_files,
    workspace_size,
)

ALL = ("shell", "read_file", "write_file", "list_files")
MIB = 1024 * 1024


@pytest.fixture
def tools(tmp_path):
    return SandboxTools(tmp_path / "ws", ALL, SandboxLimits(cpu_seconds=2, wall_seconds=5))


def shell(tools: SandboxTools, command: str):
    return tools.call("shell", {"command": command})


def test_bubblewrap_is_installed_here():
    # The remaining tests mean nothing if they ran unsandboxed.
    assert SandboxTools(Path("/nonexistent"), ALL).bwrap


def test_files_written_by_one_call_are_there_for_the_next(tools):
    assert not tools.call("write_file", {"path": "out/report.md", "content": "# Hi\n"}).is_error

    listing = tools.call("list_files", {})
    read = tools.call("read_file", {"path": "/workspace/out/report.md"})
    counted = shell(tools, "wc -c < out/report.md")

    assert listing.content == "out/report.md\t5 bytes\n"
    assert read.content == "# Hi\n"
    assert "stdout:\n5" in counted.content
    assert (tools.workspace / "out" / "report.md").read_text() == "# Hi\n"


@pytest.mark.parametrize("path", ["../secret", "/etc/passwd", "a/../../b", ""])
def test_paths_outside_the_workspace_are_refused(tools, path):
    result = tools.call("read_file", {"path": path})

    assert result.is_error
    assert "workspace" in result.content or "required" in result.content


def test_the_command_runs_as_nobody_without_capabilities_even_for_a_root_worker(tools):
    result = shell(
        tools, "id -u; grep CapEff /proc/self/status; mount -o remount,bind,rw /usr && echo RW"
    )

    assert "stdout:\n65534\nCapEff:\t0000000000000000" in result.content
    assert "must be superuser" in result.content
    assert "\nRW" not in result.content


def test_tmp_is_small_and_the_workspace_has_a_quota(tmp_path):
    limits = SandboxLimits(tmp_bytes=1024 * 1024, workspace_bytes=2 * 1024 * 1024)
    tools = SandboxTools(tmp_path / "ws", ALL, limits)

    tmp = shell(tools, "head -c 3000000 /dev/zero > /tmp/big; ls -l /tmp/big")
    full = shell(tools, "head -c 3000000 /dev/zero > big.bin")

    assert "1048576" in tmp.content
    assert full.is_error
    assert "over its 2097152 byte quota, so it was emptied" in full.content
    assert list((tmp_path / "ws").iterdir()) == []


# Forks up to argv[1] children that each become `sleep 987.654`, then exits at once,
# leaving them in the background; first it tries to lift its process cap.
FORKER = """
import os, resource, sys
try:
    resource.setrlimit(resource.RLIMIT_NPROC, (100_000, 100_000))
    print("lifted the cap")
except ValueError:
    print("could not lift the cap")
started = 0
try:
    for _ in range(int(sys.argv[1])):
        if os.fork() == 0:
            os.execv("/bin/sleep", ["sleep", "987.654"])
        started += 1
except OSError as exc:
    print("fork failed:", exc.strerror)
print("started", started)
"""


def survivors(tools: SandboxTools) -> list[str]:
    """The host's live processes the forker started, or that run as the toolbox's uid.

    Zombies are dead: an init bwrap left to the host's init may linger as one.
    """
    found = []
    for proc in Path("/proc").iterdir():
        try:
            status = (proc / "status").read_text()
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):
            continue  # not a process, or gone meanwhile
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        ours = "sleep 987.654" in cmdline or fields["Uid"].split()[0] == str(tools.sandbox_uid)
        if ours and not fields["State"].strip().startswith("Z"):
            found.append(f"{proc.name} {fields['State'].strip()} {cmdline}")
    return found


def started(result) -> int:
    return int(result.content.split("started ")[1].split()[0])


def test_a_call_forking_300_background_processes_is_capped_and_none_outlives_it(tmp_path):
    tools = SandboxTools(tmp_path / "ws", ALL, SandboxLimits(processes=20, wall_seconds=20))
    tools.call("write_file", {"path": "fork.py", "content": FORKER})

    result = shell(tools, "python3 fork.py 300; echo shell-done")

    # The sandbox's init, the shell and python itself count against the 20 as well.
    assert 10 <= started(result) < 20
    assert "fork failed: Resource temporarily unavailable" in result.content
    assert "could not lift the cap" in result.content
    assert "shell-done" in result.content
    assert survivors(tools) == []


def test_the_process_cap_counts_the_calls_own_processes_not_the_uids(tmp_path):
    # Thirty processes of the very uid the sandbox runs as, and a cap of twenty: a
    # cap counting per uid, as RLIMIT_NPROC set outside the sandbox would, stops
    # the call at once; counted in the call's own user namespace, it does not.
    tools = SandboxTools(tmp_path / "ws", ALL, SandboxLimits(processes=20, wall_seconds=20))
    tools.call("write_file", {"path": "fork.py", "content": FORKER})
    uid = tools.sandbox_uid if tools.sandbox_uid is not None else os.getuid()
    as_uid = {"user": uid, "group": uid, "extra_groups": []} if os.geteuid() == 0 else {}
    others = [subprocess.Popen(["sleep", "60"], **as_uid) for _ in range(30)]
    try:
        result = shell(tools, "python3 fork.py 12")
    finally:
        for process in others:
            process.kill()
            process.wait()

    assert started(result) == 12
    assert "fork failed" not in result.content


def test_a_root_worker_runs_each_toolbox_as_a_uid_of_its_own(tmp_path):
    first = SandboxTools(tmp_path / "one", ALL)
    second = SandboxTools(tmp_path / "two", ALL)
    mounts = Path("/proc/self/mountinfo").read_text()

    inside = shell(first, "id -u; touch made-here")

    assert "stdout:\n65534\n" in inside.content
    if os.geteuid() == 0:
        # uid 0 is exempt from RLIMIT_NPROC: only another uid makes the cap hold.
        assert first.sandbox_uid is not None
        assert UID_BASE <= first.sandbox_uid < UID_BASE + UID_COUNT
        assert first.sandbox_uid != second.sandbox_uid
        assert (first.workspace / "made-here").stat().st_uid == first.sandbox_uid
    else:
        assert first.sandbox_uid is None
    # The workspace is bound in a mount namespace of the call's own: none is left.
    assert Path("/proc/self/mountinfo").read_text() == mounts


def test_a_failed_uid_probe_says_the_process_cap_is_off_and_is_tried_again(
    tmp_path, monkeypatch, caplog
):
    # A root worker probes once whether a sandbox starts as a uid of its own. A
    # failure may pass (a full disk, say): it must not leave the cap off for good.
    monkeypatch.setattr(sandbox, "_SEPARATE_UID_WORKS", set())
    monkeypatch.setattr(sandbox.os, "geteuid", lambda: 0)
    outcomes = iter(
        [
            Completed(1, "", "bwrap: No space left on device", False, SandboxLimits()),
            Completed(0, "", "", False, SandboxLimits()),
        ]
    )
    probed_as: list[int | None] = []

    def probe(self, argv, *args, **kwargs):
        probed_as.append(self.sandbox_uid)
        return next(outcomes)

    monkeypatch.setattr(SandboxTools, "execute", probe)
    toolboxes = [SandboxTools(tmp_path / f"ws{n}", ALL, bwrap="/usr/bin/bwrap") for n in range(3)]

    with caplog.at_level(logging.WARNING, logger="agents.engine.sandbox"):
        uids = [toolbox.sandbox_uid for toolbox in toolboxes]

    assert uids[0] is None
    assert uids[1] is not None  # probed again, and it worked
    assert uids[2] is not None  # success is kept: no third probe
    assert probed_as == [UID_BASE, UID_BASE]
    assert "PROCESS CAP OFF" in caplog.text
    assert "No space left on device" in caplog.text
    assert "the next toolbox tries again" in caplog.text


@pytest.mark.parametrize("second_uid", ["its own", "the worker's"])
def test_a_new_toolbox_over_the_same_workspace_can_change_its_files(tmp_path, second_uid):
    first = SandboxTools(tmp_path / "ws", ALL)
    shell(first, "mkdir -p sub && echo one > sub/notes.txt")
    second = SandboxTools(tmp_path / "ws", ALL)
    if second_uid == "the worker's":
        second.sandbox_uid = None  # as where a uid of its own cannot work

    result = shell(second, "echo two >> sub/notes.txt && rm sub/notes.txt && echo gone")

    assert "stdout:\ngone" in result.content
    assert not (tmp_path / "ws" / "sub" / "notes.txt").exists()


def test_a_call_writing_past_the_quota_is_stopped_during_the_call(tmp_path):
    quota = 8 * MIB
    limits = SandboxLimits(workspace_bytes=quota, file_bytes=MIB, cpu_seconds=20, wall_seconds=20)
    tools = SandboxTools(tmp_path / "ws", ALL, limits)
    # Eight background writers of 40 files of 1 MB each, 50 ms apart: 320 files, and
    # 2 s at least, unless stopped. Each prints "ok" once a file is complete.
    command = (
        "for w in 1 2 3 4 5 6 7 8; do"
        " (for i in $(seq 40); do head -c 1000000 /dev/zero > f$w-$i && echo ok; sleep 0.05;"
        " done) & done; wait"
    )

    began = time.monotonic()
    result = shell(tools, command)
    took = time.monotonic() - began

    # The watcher stopped the command, not the check after it, long before the writers
    # were done. How far past the quota they got depends on how soon the watcher gets
    # the CPU (8 to 40 files here, idle or beside 4 busy loops), so the bound is loose.
    assert f"exit status: stopped: the workspace went over its {quota} byte quota" in (
        result.content
    )
    assert result.content.count("\nok") < 160
    assert took < 2
    assert result.is_error
    assert f"over its {quota} byte quota, so it was emptied" in result.content
    assert list((tmp_path / "ws").iterdir()) == []


# Creates argv[2] files of 1 MB, deletes each at once and keeps it open (or, with
# argv[1] "mapped", only mapped in memory: libc's mmap, as Python's keeps a copy of
# the descriptor), so no folder shows them; then waits.
HOLDER = """
import ctypes, mmap, os, sys, time
libc = ctypes.CDLL(None)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t] + [ctypes.c_int] * 3 + [ctypes.c_long]
kept = []
for i in range(int(sys.argv[2])):
    f = open(f"held-{i}", "w+b")
    os.unlink(f"held-{i}")
    if sys.argv[1] == "mapped":
        f.truncate(1_000_000)
        rw, shared = mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_SHARED
        address = libc.mmap(None, 1_000_000, rw, shared, f.fileno(), 0)
        assert address not in (None, ctypes.c_void_p(-1).value), "mmap failed"
        ctypes.memset(address, ord("x"), 1_000_000)
        f.close()
    else:
        f.write(b"x" * 1_000_000)
        f.flush()
        kept.append(f)
print("holding", len(os.listdir("/proc/self/fd")), "descriptors", flush=True)
time.sleep(4)
print("let go", flush=True)
"""


@pytest.mark.parametrize("how", ["open", "mapped"])
def test_deleted_files_a_call_keeps_count_against_the_quota_during_the_call(tmp_path, how):
    quota = 8 * MIB
    limits = SandboxLimits(workspace_bytes=quota, file_bytes=MIB, wall_seconds=20)
    tools = SandboxTools(tmp_path / "ws", ALL, limits)
    tools.call("write_file", {"path": "hold.py", "content": HOLDER})

    began = time.monotonic()
    result = shell(tools, f"python3 hold.py {how} 80")
    took = time.monotonic() - began

    if how == "mapped" and os.geteuid() != 0:
        # Only root may look at a process's mapped files (README): the 80 MB held
        # that way go unseen, and are freed as the call ends.
        assert "let go" in result.content
        assert not result.is_error
        return
    # 80 MB on disk against 8 MB: stopped while holding them, not when letting go.
    assert "let go" not in result.content
    assert took < 4
    assert f"exit status: stopped: the workspace went over its {quota} byte quota" in (
        result.content
    )
    assert f"over its {quota} byte quota, so it was emptied" in result.content
    assert result.is_error


def test_the_quota_check_measures_at_once_then_when_the_room_left_may_be_used_up():
    check = QuotaCheck(quota=100_000, walk_every=0.25, cpu_share=0.1)

    assert check.due(10.0, free=5_000_000)  # the baseline
    assert not check.over(60_000, free=5_000_000, ended=10.0, cost=0.0)  # 40 000 left
    # The disk lost no more than the workspace had left: the call cannot be over.
    assert not check.due(10.1, free=4_960_000)
    # It lost more: the call may be over the quota (or others wrote meanwhile).
    assert check.due(10.1, free=4_959_999)
    # Without free space figures (statvfs failed), only the periodic measurement.
    assert not check.due(10.2, free=None)
    # Others may have freed what the call used: measured every walk_every anyway.
    assert check.due(10.25, free=9_000_000)


def test_the_quota_check_is_over_only_past_the_quota_and_counts_from_the_last_measurement():
    check = QuotaCheck(quota=100_000)

    assert not check.over(100_000, free=1_000_000, ended=1.0, cost=0.0)
    assert not check.due(1.1, free=1_000_000)  # nothing left, nothing written
    assert check.due(1.1, free=999_999)  # the smallest growth may pass the quota
    assert check.over(100_001, free=999_999, ended=1.2, cost=0.0)


def test_the_quota_check_keeps_measuring_to_its_share_of_the_cpu():
    check = QuotaCheck(quota=100_000, walk_every=0.25, cpu_share=0.1)
    # A big workspace: the measurement took 50 ms of CPU.
    check.over(90_000, free=1_000_000, ended=5.0, cost=0.05)

    # None for nine times as long (0.45 s), even though the disk says the call may be
    # over and the periodic measurement is due: that is the price of a bounded cost.
    assert not check.due(5.3, free=0)
    assert not check.due(5.449, free=0)
    assert check.due(5.45, free=0)


def test_a_walk_stops_once_past_the_quota_however_many_files(tmp_path):
    for n in range(1000):
        (tmp_path / f"empty-{n}").touch()

    # Every entry counts ENTRY_BYTES at least: the walk is over after 11 of them.
    assert workspace_size(tmp_path) == 1000 * ENTRY_BYTES
    assert workspace_size(tmp_path, stop_above=10 * ENTRY_BYTES) == 11 * ENTRY_BYTES


SCANDIR = os.scandir


class Unlistable:
    """What os.scandir meets in a folder the command made write-only (chmod 300)."""

    def __init__(self, path):
        raise PermissionError(13, "Permission denied", path)


class Unsearchable:
    """os.scandir over a folder made unsearchable (chmod 600): names, but no stat."""

    def __init__(self, path):
        self.entries = SCANDIR(path)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.entries.close()

    def __iter__(self):
        for entry in self.entries:
            yield Unstatable(entry)


class Unstatable:
    def __init__(self, entry):
        self.name, self.path = entry.name, entry.path

    def stat(self, follow_symlinks=True):
        raise PermissionError(13, "Permission denied", self.path)


@pytest.mark.parametrize("folder", [Unlistable, Unsearchable])
def test_a_folder_the_worker_may_not_read_counts_as_over_any_quota(tmp_path, monkeypatch, folder):
    # Only a worker that is not root meets one (its sandboxes run as itself): the
    # command's folder would otherwise hide any amount from the quota.
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / "big.bin").write_bytes(b"x" * 100)
    monkeypatch.setattr(
        sandbox.os,
        "scandir",
        lambda path: folder(path) if path.endswith("locked") else SCANDIR(path),
    )

    assert workspace_size(tmp_path, stop_above=100 * MIB) > 100 * MIB
    assert workspace_size(tmp_path) > 100 * MIB


def test_watching_a_workspace_of_many_files_costs_the_worker_little_cpu(tmp_path):
    # 20 000 empty files, 80 MB by the count, within the 100 MB quota: every
    # measurement walks them all. The worker runs many calls at once (threads).
    tools = SandboxTools(tmp_path / "ws", ALL, SandboxLimits(wall_seconds=20))
    tools.workspace.mkdir()
    for n in range(20_000):
        os.close(os.open(tools.workspace / f"e{n}", os.O_CREAT | os.O_WRONLY))
    shell(tools, "true")  # hands the workspace over, outside the measured call

    before = resource.getrusage(resource.RUSAGE_SELF)
    began = time.monotonic()
    result = shell(tools, "sleep 3; echo done")
    wall = time.monotonic() - began
    after = resource.getrusage(resource.RUSAGE_SELF)

    # The worker's own CPU (the sleeping command's is its children's): the watcher's
    # tenth of the time, and one walk after the call. It was half the time with 2 ms
    # polls and walks up to half the time.
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    assert "stdout:\ndone" in result.content
    assert cpu < 0.2 * wall


@pytest.mark.parametrize(
    "command",
    [
        # Disk space reserved beyond the end of a file: it shows in no file size,
        # and the 1 MB file-size limit does not stop it.
        "touch reserved && fallocate --keep-size --length 50MiB reserved && echo reserved",
        # Empty files: no bytes, but an inode each (and a slower walk for the quota).
        "python3 -c \"[open(f'e{i}', 'w').close() for i in range(3000)]\"",
    ],
    ids=["reserved-blocks", "empty-files"],
)
def test_space_no_file_size_shows_counts_against_the_quota(tmp_path, command):
    limits = SandboxLimits(workspace_bytes=8 * MIB, file_bytes=MIB)
    tools = SandboxTools(tmp_path / "ws", ALL, limits)

    result = shell(tools, command)

    assert result.is_error
    assert f"over its {8 * MIB} byte quota, so it was emptied" in result.content
    assert list((tmp_path / "ws").iterdir()) == []


def test_background_processes_die_with_the_call(tools):
    shell(tools, "(sleep 2; echo late > late.txt) &")

    import time

    time.sleep(3)
    assert not (tools.workspace / "late.txt").exists()


def test_the_calls_session_is_niced_as_a_whole(tools):
    # Where the kernel shares the CPU between sessions ("autogroup"), a process's
    # nice value counts only within its session: the call's is niced as well, so
    # the worker (and its quota watcher) keeps the CPU however busy the call is.
    result = shell(tools, "cat /proc/self/autogroup || echo no-autogroup")

    if Path("/proc/self/autogroup").exists():
        assert re.search(r"stdout:\n/autogroup-\d+ nice 5\n", result.content)
        assert "stderr" not in result.content
    else:
        assert "no-autogroup" in result.content


# A worker with a controlling terminal (argv[1]), as one started by hand in a shell,
# runs a command that opens the terminal: a sandbox sharing it could push input there.
WITH_A_TERMINAL = """
import os, sys
from pathlib import Path
from agents.engine.sandbox import SandboxTools
os.close(os.open(sys.argv[1], os.O_RDWR))  # a session leader: it is now its terminal
os.close(os.open("/dev/tty", os.O_RDWR))
command = "python3 -c \\"import os; os.open('/dev/tty', os.O_RDWR); print('opened')\\""
print(SandboxTools(Path(sys.argv[2]), ("shell",)).call("shell", {"command": command}).content)
"""


def test_the_sandbox_has_no_controlling_terminal_even_when_the_worker_has_one(tmp_path):
    leader, follower = os.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-c", WITH_A_TERMINAL, os.ttyname(follower), str(tmp_path / "ws")],
            cwd=Path(__file__).resolve().parents[3],
            start_new_session=True,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        os.close(leader)
        os.close(follower)

    assert done.returncode == 0, done.stderr
    assert "No such device or address: '/dev/tty'" in done.stdout
    assert "opened" not in done.stdout


def test_a_path_that_looks_like_an_option_is_just_a_name(tools):
    tools.call("write_file", {"path": "keep.txt", "content": "x"})

    result = tools.call("list_files", {"path": "-delete"})

    assert result.is_error
    assert (tools.workspace / "keep.txt").exists()


def test_long_and_deep_paths_are_refused(tools):
    deep = tools.call("write_file", {"path": "d/" * 40 + "f", "content": "x"})
    long = tools.call("write_file", {"path": "x" * 300, "content": "x"})

    assert deep.is_error
    assert long.is_error
    assert "Paths are limited to 255 characters and 16 levels." in deep.content


def test_a_nul_byte_in_output_is_made_visible_not_passed_on(tools):
    result = shell(tools, "printf 'a\\0b'")

    assert "\x00" not in result.content
    assert "a\\0b" in result.content


def test_the_host_is_out_of_sight_and_the_root_read_only(tools):
    result = shell(tools, "ls /; cat /etc/passwd; touch /usr/x && echo wrote-usr")

    assert "workspace" in result.content
    assert "No such file" in result.content  # no /etc from the host
    assert str(Path.cwd()) not in result.content
    assert "wrote-usr" not in result.content
    assert "Read-only file system" in result.content


def test_there_is_no_network(tools):
    # A server the host can reach; the sandbox has its own, empty, network.
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        result = shell(
            tools,
            f"python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), 2)\"",
        )

    assert result.is_error
    assert "Connection refused" in result.content or "unreachable" in result.content


def test_the_host_environment_is_not_passed_in(tools, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-must-not-leak")

    result = shell(tools, "env")

    assert "sk-ant-must-not-leak" not in result.content
    assert "HOME=/workspace" in result.content


def test_a_busy_loop_is_stopped_at_the_cpu_limit(tmp_path):
    # Commands run niced: on a busy machine, 2 s of CPU can take well over 5 s.
    tools = SandboxTools(tmp_path / "ws", ALL, SandboxLimits(cpu_seconds=2, wall_seconds=60))

    result = shell(tools, "while :; do :; done")

    assert result.is_error
    assert "CPU limit 2 s" in result.content


def test_a_slow_command_is_stopped_at_the_wall_clock_limit(tmp_path):
    tools = SandboxTools(tmp_path, ALL, SandboxLimits(wall_seconds=1))

    result = shell(tools, "sleep 30")

    assert result.is_error
    assert "stopped after the 1 s time limit" in result.content


def test_memory_is_limited(tools):
    result = shell(tools, "python3 -c 'bytearray(2 * 1024**3)'")

    assert result.is_error
    assert "MemoryError" in result.content


def test_output_is_cut_at_the_cap(tmp_path):
    tools = SandboxTools(tmp_path, ALL, SandboxLimits(output_bytes=1000, wall_seconds=5))

    result = shell(tools, "yes")

    assert "[output cut at 1000 bytes]" in result.content
    assert len(result.content) < 1200


def test_only_enabled_tools_are_offered_and_callable(tmp_path):
    tools = SandboxTools(tmp_path, ("list_files", "read_file"))

    assert [spec.name for spec in tools.specs()] == ["read_file", "list_files"]
    assert tools.call("shell", {"command": "id"}).is_error


def test_without_bubblewrap_the_tools_refuse_unless_the_operator_allowed_it(tmp_path):
    refused = SandboxTools(tmp_path, ALL, bwrap="").call("shell", {"command": "echo hi"})
    allowed = SandboxTools(tmp_path, ALL, bwrap="", allow_unsandboxed=True).call(
        "shell", {"command": "echo hi"}
    )

    assert refused.is_error
    assert "bubblewrap (bwrap) is not installed" in refused.content
    assert "stdout:\nhi" in allowed.content


def test_collecting_artifacts_keeps_files_within_the_caps_and_never_follows_links(tmp_path):
    secret = tmp_path / "host-secret.txt"
    secret.write_text("host data")
    workspace = tmp_path / "ws"
    (workspace / "sub").mkdir(parents=True)
    (workspace / "report.md").write_text("# Report")
    (workspace / "sub" / "data.csv").write_text("a,b\n")
    (workspace / "big.bin").write_bytes(b"x" * 500)
    os.symlink(secret, workspace / "link.txt")
    os.symlink(tmp_path, workspace / "linked-folder")

    files, notes = collect_files(workspace, max_file_bytes=100, max_total_bytes=10_000)

    assert [(f.path, f.content) for f in files] == [
        ("report.md", b"# Report"),
        ("sub/data.csv", b"a,b\n"),
    ]
    assert notes == ["big.bin (500 bytes) is over the 100-byte file limit"]


def test_collecting_artifacts_notes_odd_names_and_caps_the_count(tmp_path):
    (tmp_path / "ok.txt").write_text("fine")
    os.close(os.open(os.fsencode(tmp_path) + b"/bad-\xff.txt", os.O_CREAT | os.O_WRONLY))
    for n in range(5):
        (tmp_path / f"many-{n}.txt").write_text("x")

    files, notes = collect_files(tmp_path, 100, 10_000, max_files=3)

    assert [f.path for f in files] == ["many-0.txt", "many-1.txt", "many-2.txt"]
    assert any("not valid UTF-8" in note for note in notes)
    assert "ok.txt: the run already keeps 3 files" in notes


def test_collecting_artifacts_stops_at_the_run_total(tmp_path):
    for name in ("a.txt", "b.txt", "c.txt"):
        (tmp_path / name).write_bytes(b"x" * 40)

    files, notes = collect_files(tmp_path, max_file_bytes=100, max_total_bytes=100)

    assert [f.path for f in files] == ["a.txt", "b.txt"]
    assert notes == ["c.txt would pass the run's 100-byte artifact limit"]
