"""The agent's tools: shell, read, write and list files, each call in a bubblewrap sandbox.

Every call starts a fresh sandbox over the run's workspace folder (bound read-write
at /workspace): the root is read-only and holds only /usr, there is no network,
no host environment, no other process, and the command runs as "nobody" in its own
user namespace with every capability dropped, so even a worker running as root
cannot remount anything. Each call runs under CPU, memory and file-size limits
(per process: there are no cgroups to limit a call as a whole), a small /tmp, an
output cap and a wall clock. Two limits hold for the call as a whole: a cap on its
processes (RLIMIT_NPROC set inside the call's own user namespace, where it counts
that call's processes only), and the workspace's size quota, measured while the
command runs (files it deleted but keeps open count too) so a call passing it is
stopped then, not only checked afterwards.
The workspace persists across the calls of one run, so a file written by one call
is there for the next.

Without bubblewrap the tools refuse, unless the operator allowed unsandboxed
execution: then the same commands run as plain child processes in the workspace,
with the same limits but no isolation at all (README, "Sandboxed tools").
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import secrets
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import IO, Any

from agents.engine.types import ToolResult, ToolSpec

logger = logging.getLogger(__name__)

SANDBOX_HOME = "/workspace"

TOOL_SPECS: dict[str, ToolSpec] = {
    spec.name: spec
    for spec in (
        ToolSpec(
            "shell",
            "Run a shell command (/bin/sh) in the run's workspace. No network. "
            "Returns the exit status, stdout and stderr.",
            {
                "type": "object",
                "properties": {"command": {"type": "string", "description": "The command."}},
                "required": ["command"],
            },
        ),
        ToolSpec(
            "read_file",
            "Read a text file from the run's workspace.",
            {
                "type": "object",
                "properties": {"path": {"type": "string", "description": "Relative path."}},
                "required": ["path"],
            },
        ),
        ToolSpec(
            "write_file",
            "Write a text file in the run's workspace, creating folders as needed. "
            "Files left in the workspace are kept as the run's artifacts.",
            {
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "Relative path."},
                    "content": {"type": "string"},
                },
                "required": ["path", "content"],
            },
        ),
        ToolSpec(
            "list_files",
            "List the files in the run's workspace (or a folder of it), with sizes in bytes.",
            {
                "type": "object",
                "properties": {"path": {"type": "string", "description": "Folder; default ."}},
            },
        ),
    )
}
TOOL_NAMES = tuple(TOOL_SPECS)
# The tools that can add to the workspace, so its quota is checked after them.
WRITING_TOOLS = frozenset({"shell", "write_file"})


@dataclass(frozen=True)
class SandboxLimits:
    cpu_seconds: int = 10
    memory_bytes: int = 512 * 1024 * 1024
    file_bytes: int = 10 * 1024 * 1024
    output_bytes: int = 64 * 1024
    wall_seconds: float = 30.0
    tmp_bytes: int = 64 * 1024 * 1024
    workspace_bytes: int = 100 * 1024 * 1024
    # Processes (threads count too) the whole call may have at once.
    processes: int = 64


# A root worker runs each toolbox's sandboxes as a host uid of their own, drawn from
# here (systemd marks 0x70000000-0x7FFFFFFF unused): RLIMIT_NPROC never applies to
# uid 0, and no process or file of the host shares the uid.
UID_BASE = 0x7000_0000
UID_COUNT = 1 << 24
COMMAND_NICENESS = 5


# Paths the model names stay short and shallow: deep trees break cleanup and storage.
MAX_PATH_CHARS = 255
MAX_PATH_PARTS = 16


class PathError(ValueError):
    pass


def workspace_path(raw: Any) -> str:
    """A path the model gave, checked to stay inside the workspace, relative to it."""
    if not isinstance(raw, str) or not raw.strip():
        raise PathError("A path is required.")
    path = PurePosixPath(raw.strip())
    if path.is_absolute():
        try:
            path = path.relative_to(SANDBOX_HOME)
        except ValueError:
            raise PathError(f"{raw!r} is outside the workspace; use a relative path.") from None
    if ".." in path.parts:
        raise PathError(f"{raw!r} leaves the workspace ('..' is not allowed).")
    if len(str(path)) > MAX_PATH_CHARS or len(path.parts) > MAX_PATH_PARTS:
        raise PathError(
            f"Paths are limited to {MAX_PATH_CHARS} characters and {MAX_PATH_PARTS} levels."
        )
    # "./" first: a name starting with "-" must never read as an option.
    return f"./{path}"


class SandboxTools:
    """The ToolBox the engine calls: the enabled tools, run over one workspace folder."""

    def __init__(
        self,
        workspace: Path,
        enabled: tuple[str, ...],
        limits: SandboxLimits | None = None,
        *,
        allow_unsandboxed: bool = False,
        bwrap: str | None = None,
    ) -> None:
        self.workspace = workspace
        self.enabled = tuple(name for name in TOOL_NAMES if name in enabled)
        self.limits = limits or SandboxLimits()
        self.allow_unsandboxed = allow_unsandboxed
        self.bwrap = bwrap if bwrap is not None else shutil.which("bwrap")
        # Set by execute() when the quota watcher stopped the call's command.
        self.stopped_over_quota = False

    @functools.cached_property
    def sandbox_uid(self) -> int | None:
        """The host uid the sandboxes of this toolbox run as; None: the worker's own.

        Only a root worker picks one, and only where it works: its own uid 0 is
        exempt from RLIMIT_NPROC, so without it a call's processes are not capped.
        """
        if not self.bwrap or os.geteuid() != 0:
            return None
        failure = _separate_uid_failure(self.bwrap)
        if failure is not None:
            logger.warning(
                "PROCESS CAP OFF: the tool calls of this toolbox (workspace %s) run with "
                "no limit on their processes, as the sandbox could not start as a uid of "
                "its own (%s) and uid 0 is exempt from RLIMIT_NPROC. Unprivileged user "
                "namespaces, unshare and /mnt are needed; the next toolbox tries again.",
                self.workspace,
                failure,
            )
            return None
        return UID_BASE + secrets.randbelow(UID_COUNT)

    def specs(self) -> tuple[ToolSpec, ...]:
        return tuple(TOOL_SPECS[name] for name in self.enabled)

    def call(self, name: str, arguments: dict[str, Any]) -> ToolResult:
        if name not in self.enabled:
            return ToolResult(f"No tool named {name!r} is available.", is_error=True)
        if not self.bwrap and not self.allow_unsandboxed:
            return ToolResult(
                "The sandbox is unavailable: bubblewrap (bwrap) is not installed on the "
                "worker. Ask the operator to install it (Debian: apt-get install bubblewrap).",
                is_error=True,
            )
        self.stopped_over_quota = False
        try:
            result = self._call(name, arguments)
        except PathError as exc:
            return ToolResult(str(exc), is_error=True)
        # Reading and listing cannot grow the workspace: only writers pay for the walk.
        # The watcher stopped a writer that passed the quota while running; this final
        # check catches what it could not see in time.
        quota = self.limits.workspace_bytes
        if name in WRITING_TOOLS and (
            self.stopped_over_quota or workspace_size(self.workspace, stop_above=quota) > quota
        ):
            # The quota keeps one run from filling the worker's disk for everyone.
            remove_tree(self.workspace)
            self.workspace.mkdir(parents=True)
            message = (
                f"The workspace went over its {self.limits.workspace_bytes} byte quota, "
                "so it was emptied. Write less, or remove files you no longer need."
            )
            if self.stopped_over_quota:
                message += f"\n{result.content}"  # it tells how the command was stopped
            return ToolResult(message, is_error=True)
        return result

    def _call(self, name: str, arguments: dict[str, Any]) -> ToolResult:
        if name == "shell":
            command = arguments.get("command")
            if not isinstance(command, str) or not command.strip():
                return ToolResult("A command is required.", is_error=True)
            return self._shell(command)
        if name == "read_file":
            return self._read(workspace_path(arguments.get("path")))
        if name == "write_file":
            content = arguments.get("content")
            if not isinstance(content, str):
                return ToolResult("content must be a string.", is_error=True)
            return self._write(workspace_path(arguments.get("path")), content)
        return self._list(workspace_path(arguments.get("path") or "."))

    # ---------------------------------------------------------------- the four tools

    def _shell(self, command: str) -> ToolResult:
        done = self.execute(["/bin/sh", "-c", command], watch_quota=True)
        parts = [f"exit status: {done.describe_status()}"]
        if done.stdout:
            parts.append(f"stdout:\n{done.stdout}")
        if done.stderr:
            parts.append(f"stderr:\n{done.stderr}")
        return ToolResult("\n".join(parts), is_error=done.returncode != 0)

    def _read(self, path: str) -> ToolResult:
        done = self.execute(["/bin/cat", "--", path])
        if done.returncode != 0:
            return ToolResult(done.stderr.strip() or done.describe_status(), is_error=True)
        return ToolResult(done.stdout)

    def _write(self, path: str, content: str) -> ToolResult:
        script = 'mkdir -p -- "$(dirname -- "$1")" && cat > "$1"'
        done = self.execute(
            ["/bin/sh", "-c", script, "write_file", path], stdin=content, watch_quota=True
        )
        if done.returncode != 0:
            return ToolResult(done.stderr.strip() or done.describe_status(), is_error=True)
        return ToolResult(f"Wrote {len(content.encode())} bytes to {path[2:]}.")

    def _list(self, path: str) -> ToolResult:
        done = self.execute(
            ["/usr/bin/find", path, "-type", "f", "-printf", "%P\\t%s bytes\\n"], sort=True
        )
        if done.returncode != 0:
            return ToolResult(done.stderr.strip() or done.describe_status(), is_error=True)
        return ToolResult(done.stdout or "(no files)")

    # ---------------------------------------------------------------- running one command

    def command_line(self, argv: list[str], info_fd: int | None = None) -> list[str]:
        """The whole command: resource limits, then the sandbox (if any), then `argv`.

        bwrap writes the host pid of the sandbox's init to `info_fd`, if given.
        """
        limits = self.limits
        prefix = [
            "/usr/bin/prlimit",
            f"--cpu={limits.cpu_seconds}",
            f"--as={limits.memory_bytes}",
            f"--fsize={limits.file_bytes}",
            "--nofile=256",
            "--",
        ]
        niced = ["/usr/bin/nice", "-n", str(COMMAND_NICENESS), "--"]
        # The call runs in a session of its own (execute's start_new_session), and
        # where the kernel groups each session's processes to share the CPU as one
        # ("autogroup", on unless the worker runs in a CPU cgroup), a process's nice
        # value counts only within its session: the call would get as much CPU as the
        # whole worker, and the quota watcher could wait hundreds of milliseconds for
        # it while the command writes on. So the session is niced too, before
        # anything else runs in it. A root worker always may; the kernel refuses
        # others more than one such change a tenth of a second, machine-wide.
        renice = f'{{ echo {COMMAND_NICENESS} > /proc/self/autogroup; }} 2>/dev/null; exec "$@"'
        autogroup = ["/bin/sh", "-c", renice, "sh"]
        if not self.bwrap:
            # No user namespace here, so RLIMIT_NPROC would count every process of
            # the worker's user: unsandboxed calls have no process cap (README).
            return [*autogroup, *prefix, *niced, *argv]
        workspace = str(self.workspace.absolute())
        launcher: list[str] = []
        uid = self.sandbox_uid
        if uid is not None:
            # bwrap must then run as `uid`, which may not be allowed to walk down to
            # the workspace (pytest's and many data folders are 0700). So a private
            # mount namespace, gone with the call, binds the workspace on /mnt first.
            launcher = [
                "/usr/bin/unshare", "--mount", "--propagation", "private", "--",
                "/bin/sh", "-c", 'mount --bind "$0" /mnt && exec "$@"', workspace,
                "/usr/bin/setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                "--",
            ]  # fmt: skip
            workspace = "/mnt"
        sandbox = [
            self.bwrap,
            "--ro-bind", "/usr", "/usr",
            "--symlink", "usr/bin", "/bin",
            "--symlink", "usr/lib", "/lib",
            "--symlink", "usr/lib64", "/lib64",
            "--proc", "/proc",
            "--dev", "/dev",
            "--size", str(limits.tmp_bytes),
            "--tmpfs", "/tmp",  # noqa: S108 (a fresh tmpfs inside the sandbox)
            "--bind", workspace, SANDBOX_HOME,
            "--unshare-all",
            # Nobody, without capabilities, unable to nest namespaces: a worker
            # running as root must not lend the command its power over /usr.
            "--unshare-user", "--uid", "65534", "--gid", "65534",
            "--cap-drop", "ALL",
            "--disable-userns",
            "--die-with-parent",
            # No --new-session: the call's own session (execute) already has no
            # controlling terminal to push input into (TIOCSTI), and one more session
            # would be one more autogroup, at nice 0.
            "--clearenv",
            "--setenv", "PATH", "/usr/bin:/bin",
            "--setenv", "HOME", SANDBOX_HOME,
            "--setenv", "LANG", "C.UTF-8",
            "--chdir", SANDBOX_HOME,
            "--remount-ro", "/",
            *(["--info-fd", str(info_fd)] if info_fd is not None else []),
            "--",
        ]  # fmt: skip
        # Set inside the call's fresh user namespace, RLIMIT_NPROC counts that call's
        # processes only (the kernel counts per namespace and uid), however many other
        # processes share the host uid. Set outside, it would count all of them.
        # Niced (and its session with it, above), the command yields the CPU to the
        # worker, so the quota watcher gets its turn soon even while many of the
        # command's processes write at once (it cannot lower its nice value again;
        # it can start sessions of its own, which are not niced: README).
        inner = ["/usr/bin/prlimit", f"--nproc={limits.processes}", "--", *niced]
        return [*autogroup, *prefix, *launcher, *sandbox, *inner, *argv]

    def execute(
        self, argv: list[str], stdin: str = "", *, sort: bool = False, watch_quota: bool = False
    ) -> Completed:
        """Run `argv` under the limits; output beyond the cap is cut, the wall clock enforced.

        With `watch_quota`, the command is also stopped once the workspace passes its quota.
        When this returns, no process of the call is left.
        """
        self.workspace.mkdir(parents=True, exist_ok=True)
        self._hand_over_workspace()
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.workspace), "LANG": "C.UTF-8"}
        deadline = time.monotonic() + self.limits.wall_seconds
        info_read, info_write = os.pipe() if self.bwrap else (None, None)
        # Output goes to files, not pipes: a command printing without end is stopped by
        # the file-size limit instead of filling the worker's memory.
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            try:
                process = subprocess.Popen(  # noqa: S603 (fixed argv; the command runs sandboxed)
                    self.command_line(argv, info_write),
                    stdin=subprocess.PIPE,
                    stdout=out,
                    stderr=err,
                    cwd=self.workspace,
                    env=env,
                    # A session of its own: no controlling terminal (the sandbox then
                    # needs no --new-session), and one process group to kill.
                    start_new_session=True,
                    pass_fds=() if info_write is None else (info_write,),
                )
            except BaseException:
                if info_read is not None:
                    os.close(info_read)
                raise
            finally:
                if info_write is not None:
                    os.close(info_write)
            call = CallProcesses(process.pid, info_read, deadline)
            watcher = QuotaWatcher(
                self.workspace,
                self.limits.workspace_bytes,
                call.kill,
                enabled=watch_quota,
                held=call.deleted_bytes,
            )
            timed_out = False
            with call, watcher:
                try:
                    remaining = max(0.0, deadline - time.monotonic())
                    process.communicate(stdin.encode(), timeout=remaining)
                except subprocess.TimeoutExpired:
                    timed_out = True
                # Always: background processes the command left behind die with the call.
                call.kill()
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                call.wait_until_gone()
            stdout = _read_capped(out, self.limits.output_bytes)
            stderr = _read_capped(err, self.limits.output_bytes)
        if sort:
            stdout = "".join(sorted(stdout.splitlines(keepends=True)))
        if watcher.tripped:
            self.stopped_over_quota = True
        return Completed(
            process.returncode, stdout, stderr, timed_out, self.limits, watcher.tripped
        )

    def _hand_over_workspace(self) -> None:
        """Make the workspace the sandbox uid's, as a root worker: it must write there.

        A new toolbox over a workspace a previous one used (another uid) or that was
        just emptied (root's) changes its owner; within one toolbox this is one stat.
        """
        if not self.bwrap or os.geteuid() != 0:
            return  # a worker that is not root runs its sandboxes as itself
        owner = self.sandbox_uid if self.sandbox_uid is not None else 0
        if self.workspace.lstat().st_uid != owner:
            # --no-dereference: a link the agent left must not hand over its target.
            subprocess.run(  # noqa: S603 (fixed argv)
                ["/bin/chown", "-R", "--no-dereference", f"{owner}:{owner}", "--",
                 str(self.workspace)],
                check=False,
                capture_output=True,
            )  # fmt: skip


# bwrap paths where a sandbox was seen starting as a uid of its own. Only success is
# remembered: a failure may pass (a full disk, a busy system), so the next toolbox
# probes again rather than running without a process cap for the worker's life.
_SEPARATE_UID_WORKS: set[str] = set()


def _separate_uid_failure(bwrap: str) -> str | None:
    """Why a sandbox cannot start here as a uid of its own; None if it can."""
    if bwrap in _SEPARATE_UID_WORKS:
        return None
    with tempfile.TemporaryDirectory(prefix="sandbox-probe-") as folder:
        probe = SandboxTools(Path(folder), (), bwrap=bwrap)
        probe.sandbox_uid = UID_BASE
        try:
            done = probe.execute(["/bin/true"])
        except OSError as exc:
            return str(exc)
    if done.returncode != 0:
        detail = " ".join(done.stderr.split())[:300]
        return f"exit status {done.describe_status()}: {detail or 'no message'}"
    _SEPARATE_UID_WORKS.add(bwrap)
    return None


class CallProcesses:
    """Handles on a call's first process and, if sandboxed, its PID namespace's init.

    Pidfds name these very processes: a kill never reaches another process that got
    a pid after its owner was reaped. Killing the init kills every process of the
    sandbox at once, without waiting for bwrap to die first (--die-with-parent).
    """

    def __init__(self, pid: int, info_fd: int | None, deadline: float) -> None:
        self.leader = os.pidfd_open(pid)
        self.init = _open_init(info_fd, deadline) if info_fd is not None else None
        # The sandbox's own /proc, which lists its processes and no other: opened on
        # first use, as bwrap mounts it only after it told the init's pid.
        self._proc: int | None = None

    def __enter__(self) -> CallProcesses:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        fds = (self.leader, self._proc, *((self.init.pidfd, self.init.folder) if self.init else ()))
        for fd in fds:
            if fd is not None:
                os.close(fd)

    def kill(self) -> None:
        for fd in (self.init.pidfd if self.init else None, self.leader):
            if fd is not None:
                with contextlib.suppress(ProcessLookupError):
                    signal.pidfd_send_signal(fd, signal.SIGKILL)

    def wait_until_gone(self, timeout: float = 10.0) -> None:
        """Wait for the sandbox's init: it exits only once all its processes are gone.

        bwrap itself may exit first, leaving the PID namespace to die a moment later.
        """
        if self.init is not None:
            poller = select.poll()
            poller.register(self.init.pidfd, select.POLLIN)
            poller.poll(timeout * 1000)

    def deleted_bytes(self, device: int, stop_above: int) -> int:
        """Disk space on `device` held by files the sandbox deleted but keeps open or mapped.

        Such a file is in no folder, so no walk of the workspace finds it, yet its blocks
        stay taken until its last holder lets go. The sandbox's own /proc lists exactly
        its processes; as they all run in namespaces the worker owns (or as root), the
        worker may look through their open files. Mapped files need root to be looked
        at. Unsandboxed calls have no namespace to list: they count none of these.
        Like a walk, this stops once the total passes `stop_above`: each file counts
        ENTRY_BYTES at least, so at most stop_above / ENTRY_BYTES + 1 files are counted.
        """
        proc = self._sandbox_proc()
        if proc is None:
            return 0
        held: dict[int, int] = {}
        total = 0
        for link in _deleted_file_links(f"/proc/self/fd/{proc}"):
            with contextlib.suppress(OSError):
                stat = os.stat(link)  # follows the link to the (deleted) file itself
                if stat.st_dev == device and stat.st_nlink == 0 and stat.st_ino not in held:
                    held[stat.st_ino] = max(stat.st_blocks * 512, ENTRY_BYTES)
                    total += held[stat.st_ino]
                    if total > stop_above:
                        break
        return total

    def _sandbox_proc(self) -> int | None:
        if self._proc is None and self.init is not None:
            with contextlib.suppress(OSError):
                # The folder fd holds the init itself: once it is gone this fails,
                # however soon its pid is reused.
                proc = os.open("root/proc", os.O_RDONLY | os.O_DIRECTORY, dir_fd=self.init.folder)
                try:
                    # Until bwrap has set up the sandbox, the init's root is the host's
                    # and so is this /proc: only the sandbox's shows its init as pid 1.
                    if os.readlink("1/ns/pid", dir_fd=proc) == self.init.namespace:
                        self._proc, proc = proc, -1
                finally:
                    if proc != -1:
                        os.close(proc)
        return self._proc


def _deleted_file_links(proc: str) -> Iterator[str]:
    """Links in the sandbox's /proc to the files its processes hold open or mapped.

    Each thread's table of open files: one made without CLONE_FILES has its own. Of
    the mappings, only those of deleted files, each file once however often mapped.
    """
    with contextlib.suppress(OSError):
        pids = [name for name in os.listdir(proc) if name.isdigit()]
        for pid in pids:
            with contextlib.suppress(OSError):
                for task in os.listdir(f"{proc}/{pid}/task"):
                    with contextlib.suppress(OSError):
                        for fd in os.listdir(f"{proc}/{pid}/task/{task}/fd"):
                            yield f"{proc}/{pid}/task/{task}/fd/{fd}"
            mapped: set[tuple[str, str]] = set()
            with contextlib.suppress(OSError), open(f"{proc}/{pid}/maps", "rb") as maps:
                for line in maps:
                    if line.endswith(b" (deleted)\n"):
                        # address, permissions, offset, device, inode, path
                        fields = line.decode(errors="replace").split(maxsplit=5)
                        if len(fields) == 6 and (fields[3], fields[4]) not in mapped:
                            mapped.add((fields[3], fields[4]))
                            yield f"{proc}/{pid}/map_files/{fields[0]}"


@dataclass(frozen=True)
class SandboxInit:
    pidfd: int
    folder: int  # /proc/<pid>, opened while the pid was surely the init's
    namespace: str  # its PID namespace, as /proc/<pid>/ns/pid names it


def _open_init(info_fd: int, deadline: float) -> SandboxInit | None:
    """Handles on the sandbox's init, from bwrap's --info-fd; None if it never said."""
    try:
        data = b""
        # bwrap writes the pid once the sandbox exists and closes the pipe: EOF ends.
        while select.select([info_fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
            chunk = os.read(info_fd, 4096)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(info_fd)
    try:
        pid = int(json.loads(data)["child-pid"])
        pidfd = os.pidfd_open(pid)
    except (ValueError, KeyError, TypeError, OSError):
        return None  # bwrap failed before; its exit status tells the model why
    # Opened, the pidfd holds that process; make sure it is still the sandbox's init
    # (pid 1 of its own namespace) and not a process that reused its pid meanwhile.
    folder = -1
    try:
        folder = os.open(f"/proc/{pid}", os.O_RDONLY | os.O_DIRECTORY)
        status = Path(f"/proc/{pid}/status").read_text()
        namespace = os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        status = namespace = ""
    nspid = [line.split() for line in status.splitlines() if line.startswith("NSpid:")]
    # Polled, a pidfd is readable once its process exited: then the pid may be reused.
    alive = not select.select([pidfd], [], [], 0)[0]
    if not nspid or nspid[0][-1] != "1" or not namespace or not alive:
        os.close(pidfd)
        if folder != -1:
            os.close(folder)
        return None
    return SandboxInit(pidfd, folder, namespace)


@dataclass
class QuotaCheck:
    """When the quota watcher measures the workspace, and what it makes of a measurement.

    It has no clock, disk or thread of its own: the watcher hands it the time, the
    disk's free space and each measurement, so its choices can be tested with made-up
    numbers. A measurement is due first at once, for a baseline; then whenever the
    disk lost more free space than the workspace had left below its quota (the call
    may have passed it), and every `walk_every` seconds in case others freed space
    meanwhile. Measuring takes CPU in proportion to the files, so none starts before
    the last one's CPU time is at most `cpu_share` of the time since it started.
    """

    quota: int
    walk_every: float = 0.25
    cpu_share: float = 0.1
    _ended: float | None = field(default=None, init=False)  # monotonic seconds
    _cost: float = field(default=0.0, init=False)  # CPU seconds the last one took
    _free: int | None = field(default=None, init=False)  # the disk's free space then
    _headroom: int = field(default=0, init=False)  # and the workspace's room below quota

    def due(self, now: float, free: int | None) -> bool:
        """Whether to measure now, with the disk's free space `free` (None: unknown)."""
        if self._ended is None:
            return True
        since = now - self._ended
        if since < self._cost * (1 - self.cpu_share) / self.cpu_share:
            return False
        if since >= self.walk_every:
            return True
        # Without free space figures, only the periodic measurements watch.
        if free is None or self._free is None:
            return False
        return self._free - free > self._headroom

    def over(self, size: int, *, free: int | None, ended: float, cost: float) -> bool:
        """Take a measurement the watcher made: is the workspace over its quota?

        `free` is the free space seen when it was due (anything written since shows
        as growth next time), `ended` when it ended and `cost` the CPU seconds it took.
        """
        if size > self.quota:
            return True
        self._ended, self._cost = ended, cost
        self._free, self._headroom = free, self.quota - size
        return False


class QuotaWatcher:
    """Measures the workspace while a command runs; kills the command once it is over.

    The kernel keeps no account of one folder's bytes, and a size-limited filesystem
    would need root and a mount per run, so the workspace is measured from outside:
    walked (`workspace_size`, which stops once past the quota, so a walk visits at
    most quota / ENTRY_BYTES entries), plus the files the call deleted but holds open
    (`held`). Every POLL_SECONDS it reads the disk's free space (one statvfs), and
    QuotaCheck says when to measure. How far a call gets past the quota is what it
    writes between two measurements, plus how late this thread gets the CPU: a few
    milliseconds on an idle worker, a few hundred on a loaded one (README).
    """

    POLL_SECONDS = 0.025

    def __init__(
        self,
        root: Path,
        quota: int,
        kill: Callable[[], None],
        *,
        enabled: bool = True,
        held: Callable[[int, int], int] | None = None,
    ) -> None:
        self.root = root
        self.quota = quota
        self.kill = kill
        self.enabled = enabled
        self.held = held
        self.tripped = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="sandbox-quota", daemon=True)

    def __enter__(self) -> QuotaWatcher:
        if self.enabled:
            self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.enabled:
            self._stop.set()
            self._thread.join()

    def measure(self, device: int) -> int:
        size = workspace_size(self.root, stop_above=self.quota)
        if size <= self.quota and self.held is not None:
            size += self.held(device, self.quota - size)
        return size

    def _watch(self) -> None:
        check = QuotaCheck(self.quota)
        try:
            device = self.root.stat().st_dev
        except OSError:
            return
        while True:
            free = _free_space(self.root)
            if check.due(time.monotonic(), free):
                cpu = time.thread_time()
                size = self.measure(device)
                cost = time.thread_time() - cpu
                if check.over(size, free=free, ended=time.monotonic(), cost=cost):
                    self.tripped = True
                    self.kill()
                    return
            if self._stop.wait(self.POLL_SECONDS):
                return


def _free_space(root: Path) -> int | None:
    """Free bytes on the workspace's filesystem, each free inode counted as an entry."""
    try:
        stat = os.statvfs(root)
    except OSError:
        return None
    return stat.f_bfree * stat.f_frsize + stat.f_ffree * ENTRY_BYTES


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool
    limits: SandboxLimits
    over_quota: bool = False

    def describe_status(self) -> str:
        if self.over_quota:
            return f"stopped: the workspace went over its {self.limits.workspace_bytes} byte quota"
        if self.timed_out:
            return f"stopped after the {self.limits.wall_seconds:g} s time limit"
        if self.returncode == -signal.SIGKILL or self.returncode == 128 + signal.SIGKILL:
            return f"killed (CPU limit {self.limits.cpu_seconds} s or memory limit)"
        if self.returncode == -signal.SIGXCPU or self.returncode == 128 + signal.SIGXCPU:
            return f"stopped at the CPU limit of {self.limits.cpu_seconds} s"
        if self.returncode == -signal.SIGXFSZ or self.returncode == 128 + signal.SIGXFSZ:
            return f"stopped at the file-size limit of {self.limits.file_bytes} bytes"
        return str(self.returncode)


def _read_capped(handle: IO[bytes], cap: int) -> str:
    handle.seek(0)
    data = handle.read(cap + 1)
    # NUL cannot be stored in PostgreSQL's JSON, and means nothing to the model.
    text = data[:cap].decode("utf-8", errors="replace").replace("\x00", "\\0")
    if len(data) > cap:
        text += f"\n[output cut at {cap} bytes]"
    return text


# ---------------------------------------------------------------- artifacts


@dataclass(frozen=True)
class WorkspaceFile:
    path: str
    content: bytes


MAX_ARTIFACTS = 100


def collect_files(
    workspace: Path, max_file_bytes: int, max_total_bytes: int, max_files: int = MAX_ARTIFACTS
) -> tuple[list[WorkspaceFile], list[str]]:
    """The regular files left in `workspace` and notes on those not kept.

    Never raises for what the agent left behind: odd names, unreadable files and
    deep trees become notes. Symbolic links are never followed: a link the agent
    made to a file outside the workspace would otherwise be read on the host.
    """
    kept: list[WorkspaceFile] = []
    notes: list[str] = []
    total = 0
    for path in sorted(_regular_files(workspace, notes)):
        relative = path.relative_to(workspace).as_posix()
        shown = relative.encode("utf-8", errors="replace").decode("utf-8", errors="replace")
        try:
            relative.encode("utf-8")
        except UnicodeEncodeError:
            notes.append(f"{shown}: the name is not valid UTF-8")
            continue
        if len(relative) > MAX_PATH_CHARS:
            notes.append(f"{shown[:80]}...: the path is over {MAX_PATH_CHARS} characters")
            continue
        if len(kept) >= max_files:
            notes.append(f"{relative}: the run already keeps {max_files} files")
            continue
        try:
            size = path.lstat().st_size
            if size > max_file_bytes:
                notes.append(
                    f"{relative} ({size} bytes) is over the {max_file_bytes}-byte file limit"
                )
                continue
            if total + size > max_total_bytes:
                notes.append(
                    f"{relative} would pass the run's {max_total_bytes}-byte artifact limit"
                )
                continue
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as handle:
                content = handle.read(max_file_bytes + 1)
        except OSError as exc:
            notes.append(f"{relative}: could not be read ({exc.strerror})")
            continue
        if len(content) > max_file_bytes:  # grew after lstat
            notes.append(f"{relative} is over the {max_file_bytes}-byte file limit")
            continue
        total += len(content)
        kept.append(WorkspaceFile(relative, content))
    return kept, notes


def _regular_files(root: Path, notes: list[str]) -> Iterator[Path]:
    def report(exc: OSError) -> None:
        notes.append(f"a folder could not be read ({exc.strerror})")

    # followlinks=False: symlinked folders are listed but never entered.
    for folder, _dirs, files in os.walk(root, followlinks=False, onerror=report):
        base = Path(folder)
        for name in files:
            path = base / name
            with contextlib.suppress(OSError):
                if path.is_file() and not path.is_symlink():
                    yield path


# What every file, folder and link counts for at least: the inode and block it takes.
# Else millions of empty files would cost nothing, yet use up the disk's inodes and
# make each walk of the workspace, and so the quota's watcher, slow.
ENTRY_BYTES = 4096


# What workspace_size says of a workspace it may not see all of: over any quota.
UNMEASURABLE = 1 << 62


def workspace_size(root: Path, stop_above: int | None = None) -> int:
    """Bytes the workspace takes, without following links.

    Each entry counts its size or the blocks it holds, whichever is more (space
    reserved with `fallocate --keep-size` shows in no size), and ENTRY_BYTES at least.
    With `stop_above`, the walk ends as soon as the total passes it: what it returns
    is then only known to be more, and a walk visits at most stop_above / ENTRY_BYTES
    + 1 entries however many files there are. A folder the worker may not list or
    look into gives UNMEASURABLE: only a worker that is not root, running its
    sandboxes as itself, meets one, and it could hide any amount (chmod 300).
    """
    total = 0
    folders = [os.fspath(root)]
    while folders:
        try:
            entries = os.scandir(folders.pop())
        except PermissionError:
            return UNMEASURABLE
        except OSError:
            continue  # gone meanwhile
        with entries:
            for entry in entries:
                try:
                    stat = entry.stat(follow_symlinks=False)
                except PermissionError:
                    return UNMEASURABLE
                except OSError:
                    continue
                total += max(stat.st_size, stat.st_blocks * 512, ENTRY_BYTES)
                with contextlib.suppress(OSError):
                    if entry.is_dir(follow_symlinks=False):
                        folders.append(entry.path)
                if stop_above is not None and total > stop_above:
                    return total
    return total


def remove_tree(root: Path) -> None:
    """Delete a workspace whatever the agent left in it (deep trees, odd modes).

    `rm -rf` rather than shutil.rmtree: it neither recurses in Python nor stops
    at the first file it cannot remove.
    """
    if root.exists():
        for argv in (
            ["/bin/chmod", "-R", "u+rwx", "--", str(root)],
            ["/bin/rm", "-rf", "--", str(root)],
        ):
            subprocess.run(argv, check=False, capture_output=True)  # noqa: S603 (fixed argv)
