"""The sandboxed tools, run for real under bubblewrap (installed by .ci/run)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from agents.engine.sandbox import SandboxLimits, SandboxTools, collect_files

ALL = ("shell", "read_file", "write_file", "list_files")


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


def test_a_busy_loop_is_stopped_at_the_cpu_limit(tools):
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


def test_collecting_artifacts_stops_at_the_run_total(tmp_path):
    for name in ("a.txt", "b.txt", "c.txt"):
        (tmp_path / name).write_bytes(b"x" * 40)

    files, notes = collect_files(tmp_path, max_file_bytes=100, max_total_bytes=100)

    assert [f.path for f in files] == ["a.txt", "b.txt"]
    assert notes == ["c.txt would pass the run's 100-byte artifact limit"]
