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


def test_background_processes_die_with_the_call(tools):
    shell(tools, "(sleep 2; echo late > late.txt) &")

    import time

    time.sleep(3)
    assert not (tools.workspace / "late.txt").exists()


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
