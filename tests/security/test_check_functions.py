"""The security check's own detectors (scripts/security_check.py): each must see what it looks for,
or a passing check would prove nothing."""

from __future__ import annotations

import os
import stat

import pytest

from rag.privacy import check_digits_valid
from scripts.security_check import (
    check_private_files,
    files_holding,
    spellings,
    synthetic_fnr,
    unsafe_rendering,
)
from tests.security.identity import FNR
from tests.security.identity import spellings as spellings_in_tests


def test_the_scripts_number_is_valid_and_its_spellings_match_the_tests():
    number = synthetic_fnr()
    assert check_digits_valid(number) and number == FNR
    assert spellings(number) == spellings_in_tests(number)


@pytest.mark.parametrize("spelling", spellings_in_tests(FNR))
def test_files_holding_finds_every_spelling_in_text_and_binary_files(tmp_path, spelling):
    (tmp_path / "a.json").write_text(f'{{"q": "{spelling}"}}', encoding="utf-8")
    (tmp_path / "b.db").write_bytes(b"\x00\x01SQLite" + spelling.encode("utf-8") + b"\xff")
    (tmp_path / "c.txt").write_text("ingenting her 12345678901", encoding="utf-8")
    assert files_holding(tmp_path, FNR) == ["a.json", "b.db"]


def test_files_holding_finds_json_escaped_zero_width_spaces(tmp_path):
    (tmp_path / "s.json").write_text('{"q": "' + FNR[:3] + "\\u200b" + FNR[3:] + '"}', encoding="ascii")
    assert files_holding(tmp_path, FNR) == ["s.json"]


@pytest.mark.parametrize(
    ("markdown", "problem"),
    [
        ("![](https://angriper.example/x)", "<img>"),
        ('<img src="https://angriper.example/x">', "<img>"),
        ("<script>alert(1)</script>", "<script>"),
        ("[x](javascript:alert(1))", "link to 'javascript:alert(1)'"),
        ("[x](//angriper.example)", "link to '//angriper.example'"),
    ],
)
def test_unsafe_rendering_sees_images_html_and_foreign_links(markdown, problem):
    assert problem in unsafe_rendering(markdown)


def test_unsafe_rendering_accepts_the_chats_own_links():
    text = "Svar [[1]](#kilde-1). [Original](/fagprat/dokument/file%3Aa.pdf) og [Hdir](https://www.helsedirektoratet.no/)"
    assert unsafe_rendering(text) == []


def test_private_files_check_sees_open_folders_and_files(tmp_path):
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    (data / "chat.db").write_bytes(b"")
    os.chmod(data, 0o755)
    os.chmod(data / "chat.db", 0o644)
    result = check_private_files(data)
    assert not result.ok and "open to other accounts" in result.detail and "chat.db is 0o644" in result.detail
    os.chmod(data, 0o750)
    os.chmod(data / "chat.db", stat.S_IRUSR | stat.S_IWUSR)
    assert check_private_files(data).ok


def test_files_holding_finds_html_escaped_zero_width_spaces(tmp_path):
    (tmp_path / "s.html").write_text(f"<p>{FNR[:3]}&#8203;{FNR[3:]}</p>", encoding="ascii")
    assert files_holding(tmp_path, FNR) == ["s.html"]
