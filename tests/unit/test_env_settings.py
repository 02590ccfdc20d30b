"""The typed environment helpers behind settings.py."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from agencyops.settings import env_bool, env_int, env_list, env_str


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("TRUE", True), ("on", True), ("0", False), ("No", False), ("", True)],
)
def test_env_bool_reads_common_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("FLAG", raw)

    assert env_bool("FLAG", True) is expected


def test_env_bool_names_a_bad_value(monkeypatch):
    monkeypatch.setenv("FLAG", "perhaps")

    with pytest.raises(ImproperlyConfigured, match="FLAG must be true or false, not 'perhaps'"):
        env_bool("FLAG", False)


def test_env_int_names_a_bad_value(monkeypatch):
    monkeypatch.setenv("N", "ten")

    with pytest.raises(ImproperlyConfigured, match="N must be a whole number"):
        env_int("N", 1)
    monkeypatch.setenv("N", "10")
    assert env_int("N", 1) == 10


def test_env_list_splits_and_trims(monkeypatch):
    monkeypatch.setenv("HOSTS", " a.test, b.test ,,")

    assert env_list("HOSTS", "") == ["a.test", "b.test"]
    assert env_list("UNSET_HOSTS_X", "x,y") == ["x", "y"]


def test_env_str_reads_a_secret_from_a_file(monkeypatch, tmp_path):
    secret = tmp_path / "key"
    secret.write_text("from-a-file\n")
    monkeypatch.setenv("API_KEY", "from-env")
    monkeypatch.setenv("API_KEY_FILE", str(secret))

    assert env_str("API_KEY") == "from-a-file"


def test_every_helper_reads_a_file_variant(monkeypatch, tmp_path):
    (tmp_path / "flag").write_text("false\n")
    (tmp_path / "n").write_text("42\n")
    (tmp_path / "hosts").write_text("a.test,b.test\n")
    monkeypatch.setenv("FLAG_FILE", str(tmp_path / "flag"))
    monkeypatch.setenv("N_FILE", str(tmp_path / "n"))
    monkeypatch.setenv("HOSTS_FILE", str(tmp_path / "hosts"))

    assert env_bool("FLAG", True) is False
    assert env_int("N", 1) == 42
    assert env_list("HOSTS", "") == ["a.test", "b.test"]
