"""The agent's tools: shell, read, write and list files, each call in a bubblewrap sandbox.

Every call starts a fresh sandbox over the run's workspace folder (bound read-write
at /workspace): the root is read-only and holds only /usr, there is no network,
no host environment, no other process, and the command runs as "nobody" in its own
user namespace with every capability dropped, so even a worker running as root
cannot remount anything. Each call runs under CPU, memory and file-size limits
(per process: there are no cgroups to limit a call as a whole), a small /tmp, an
output cap and a wall clock, and the workspace has a size quota. The workspace
persists across the calls of one run, so a file written by one call is there for
the next.

Without bubblewrap the tools refuse, unless the operator allowed unsandboxed
execution: then the same commands run as plain child processes in the workspace,
with the same limits but no isolation at all (README, "Sandboxed tools").
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from agents.engine.types import ToolResult, ToolSpec

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
        try:
            result = self._call(name, arguments)
        except PathError as exc:
            return ToolResult(str(exc), is_error=True)
        # Reading and listing cannot grow the workspace: only writers pay for the walk.
        if name in WRITING_TOOLS and workspace_size(self.workspace) > self.limits.workspace_bytes:
            # The quota keeps one run from filling the worker's disk for everyone.
            remove_tree(self.workspace)
            self.workspace.mkdir(parents=True)
            return ToolResult(
                f"The workspace went over its {self.limits.workspace_bytes} byte quota, "
                "so it was emptied. Write less, or remove files you no longer need.",
                is_error=True,
            )
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
        done = self.execute(["/bin/sh", "-c", command])
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
        done = self.execute(["/bin/sh", "-c", script, "write_file", path], stdin=content)
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

    def command_line(self, argv: list[str]) -> list[str]:
        """The whole command: resource limits, then the sandbox (if any), then `argv`."""
        limits = self.limits
        prefix = [
            "/usr/bin/prlimit",
            f"--cpu={limits.cpu_seconds}",
            f"--as={limits.memory_bytes}",
            f"--fsize={limits.file_bytes}",
            "--nofile=256",
            "--",
        ]
        if not self.bwrap:
            return [*prefix, *argv]
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
            "--bind", str(self.workspace), SANDBOX_HOME,
            "--unshare-all",
            # Nobody, without capabilities, unable to nest namespaces: a worker
            # running as root must not lend the command its power over /usr.
            "--unshare-user", "--uid", "65534", "--gid", "65534",
            "--cap-drop", "ALL",
            "--disable-userns",
            "--die-with-parent",
            "--new-session",
            "--clearenv",
            "--setenv", "PATH", "/usr/bin:/bin",
            "--setenv", "HOME", SANDBOX_HOME,
            "--setenv", "LANG", "C.UTF-8",
            "--chdir", SANDBOX_HOME,
            "--remount-ro", "/",
            "--",
        ]  # fmt: skip
        return [*prefix, *sandbox, *argv]

    def execute(self, argv: list[str], stdin: str = "", *, sort: bool = False) -> Completed:
        """Run `argv` under the limits; output beyond the cap is cut, the wall clock enforced."""
        self.workspace.mkdir(parents=True, exist_ok=True)
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.workspace), "LANG": "C.UTF-8"}
        # Output goes to files, not pipes: a command printing without end is stopped by
        # the file-size limit instead of filling the worker's memory.
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            process = subprocess.Popen(  # noqa: S603 (fixed argv; the command runs sandboxed)
                self.command_line(argv),
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=err,
                cwd=self.workspace,
                env=env,
                start_new_session=True,
            )
            timed_out = False
            try:
                process.communicate(stdin.encode(), timeout=self.limits.wall_seconds)
            except subprocess.TimeoutExpired:
                timed_out = True
            # Always: background processes the command left behind die with the call.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            stdout = _read_capped(out, self.limits.output_bytes)
            stderr = _read_capped(err, self.limits.output_bytes)
        if sort:
            stdout = "".join(sorted(stdout.splitlines(keepends=True)))
        return Completed(process.returncode, stdout, stderr, timed_out, self.limits)


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool
    limits: SandboxLimits

    def describe_status(self) -> str:
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


def workspace_size(root: Path) -> int:
    """Bytes the workspace's files take, without following links."""
    total = 0
    for folder, _dirs, files in os.walk(root, followlinks=False):
        for name in files:
            with contextlib.suppress(OSError):
                total += (Path(folder) / name).lstat().st_size
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
