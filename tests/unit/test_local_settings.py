"""An operator's own settings (overrides.py): const.py's names, set in a file that
``git pull`` and a new archive leave alone; a misspelt name or a syntax error stops the
program with one line naming the file and the line (the upgrade tester's finding 4)."""

from __future__ import annotations

import io
import os
import runpy
from pathlib import Path

import pytest

import const
import overrides
from overrides import LocalSettingsError

DEFAULTS = {"SERVER_HOST": "127.0.0.1", "SERVER_PORT": 5000, "ADMINS": (), "REQUIRE_ACCOUNTS": False,
            "RESERVED_NAMES": frozenset({"server"})}


def settings_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "const_local.py"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_settings_a_file_sets_are_applied_and_the_others_keep_their_defaults(tmp_path: Path) -> None:
    path = settings_file(tmp_path, 'import os\n# the class of 2027\nADMINS = ("João",)\nREQUIRE_ACCOUNTS = True\n'
                                   'RESERVED_NAMES = RESERVED_NAMES | {"prof"}\n_mine = 1\n')
    namespace = dict(DEFAULTS)
    applied = overrides.apply(namespace, path)
    assert applied == overrides.Applied(path, ("ADMINS", "REQUIRE_ACCOUNTS", "RESERVED_NAMES"))
    assert namespace == {**DEFAULTS, "ADMINS": ("João",), "REQUIRE_ACCOUNTS": True,
                         "RESERVED_NAMES": frozenset({"server", "prof"})}


def test_a_name_const_py_does_not_have_is_an_error_naming_its_line_and_the_setting_meant(tmp_path: Path) -> None:
    path = settings_file(tmp_path, 'REQUIRE_ACCOUNTS = True\n\nADMIN = ("João",)\n')
    with pytest.raises(LocalSettingsError) as caught:
        overrides.read(path, DEFAULTS)
    assert str(caught.value) == (f"your settings {path}, line 3: const.py has no setting ADMIN "
                                 "(did you mean ADMINS?)")
    with pytest.raises(LocalSettingsError, match="line 1: const.py has no setting require_accounts "
                                                 r"\(did you mean REQUIRE_ACCOUNTS\?\)"):
        overrides.read(settings_file(tmp_path, "require_accounts = True\n"), DEFAULTS)
    with pytest.raises(LocalSettingsError, match="line 2: const.py has no setting ROOMS; a name of "
                                                 "your own begins with _"):
        overrides.read(settings_file(tmp_path, "\nROOMS = 3\n"), DEFAULTS)


def test_a_syntax_error_is_an_error_naming_the_file_and_its_line(tmp_path: Path) -> None:
    # What a `git stash pop` that conflicted left behind.
    path = settings_file(tmp_path, 'ADMINS = ("João",)\n<<<<<<< Updated upstream\nREQUIRE_ACCOUNTS = True\n')
    with pytest.raises(LocalSettingsError, match=f"^your settings {path}, line 2: invalid syntax$"):
        overrides.read(path, DEFAULTS)


def test_an_error_while_it_runs_names_its_line_too(tmp_path: Path) -> None:
    path = settings_file(tmp_path, "SERVER_HOST = '0.0.0.0'\nSERVER_PORT = PORT + 1\n")
    with pytest.raises(LocalSettingsError, match=f"^your settings {path}, line 2: NameError: name 'PORT' is not "
                                                 "defined$"):
        overrides.read(path, DEFAULTS)


def test_a_text_where_const_py_has_a_list_is_an_error_not_a_list_of_its_letters(tmp_path: Path) -> None:
    path = settings_file(tmp_path, 'ADMINS = ("João")\n')  # no comma: one text, not a tuple
    with pytest.raises(LocalSettingsError, match=r"line 1: ADMINS is a list in const.py, not a text: "
                                                 r"write \('João',\), with the comma"):
        overrides.read(path, DEFAULTS)


@pytest.mark.parametrize("line, name, kind", [
    ('SERVER_PORT = "5000"', "SERVER_PORT", "a whole number"),
    ("SERVER_PORT = 5000.0", "SERVER_PORT", "a whole number"),
    ("SERVER_PORT = True", "SERVER_PORT", "a whole number"),  # bool is an int to Python, not to an operator
    ('MAX_CLIENTS = "a lot"', "MAX_CLIENTS", "a whole number"),
    ("IDLE_TIMEOUT = [30]", "IDLE_TIMEOUT", "a number"),
    ('IDLE_TIMEOUT = "30"', "IDLE_TIMEOUT", "a number"),
    ("REQUIRE_ACCOUNTS = 1", "REQUIRE_ACCOUNTS", "True or False"),
    ('REQUIRE_ACCOUNTS = "no"', "REQUIRE_ACCOUNTS", "True or False"),
    ("SERVER_HOST = 127", "SERVER_HOST", "a text"),
    ("ADMINS = 3", "ADMINS", "a list"),
])
def test_a_value_of_another_kind_than_const_py_s_is_an_error_naming_the_setting_the_value_and_the_kind(
        tmp_path: Path, line: str, name: str, kind: str) -> None:
    defaults = {**DEFAULTS, "MAX_CLIENTS": 1000, "IDLE_TIMEOUT": 30.0}
    path = settings_file(tmp_path, f"# mine\n{line}\n")
    value = repr(eval(line.split(" = ", 1)[1]))
    with pytest.raises(LocalSettingsError) as caught:
        overrides.read(path, defaults)
    assert str(caught.value) == f"your settings {path}, line 2: {name} is {kind} in const.py ({defaults[name]!r}), " \
                                f"not {value}"


def test_values_of_the_kind_const_py_s_are_taken_and_an_unset_setting_takes_any(tmp_path: Path) -> None:
    defaults = {**DEFAULTS, "IDLE_TIMEOUT": 30.0, "TLS_CERT": None}
    path = settings_file(tmp_path, 'IDLE_TIMEOUT = 45\nADMINS = ["João"]\nRESERVED_NAMES = {"prof"}\n'
                                   'TLS_CERT = "/etc/chat/cert.pem"\n')
    assert overrides.read(path, defaults) == {"ADMINS": ["João"], "RESERVED_NAMES": {"prof"}, "IDLE_TIMEOUT": 45,
                                              "TLS_CERT": "/etc/chat/cert.pem"}


def test_the_kind_is_said_in_the_language_in_use(tmp_path: Path) -> None:
    import i18n
    path = settings_file(tmp_path, 'SERVER_PORT = "5000"\n')
    with pytest.raises(LocalSettingsError) as caught:
        overrides.read(path, DEFAULTS)
    try:
        i18n.use("pt_BR")
        said = str(caught.value)
    finally:
        i18n.use("en")
    assert said == f"as suas configurações {path}, linha 1: SERVER_PORT é um número inteiro no const.py (5000), " \
                   "não '5000'"


def test_an_error_stops_the_program_with_one_line_on_stderr(tmp_path: Path, monkeypatch) -> None:
    path = settings_file(tmp_path, "ADMIN = ()\n")
    stderr = io.StringIO()
    monkeypatch.setattr("sys.stderr", stderr)
    with pytest.raises(SystemExit) as caught:
        overrides.apply(dict(DEFAULTS), path)
    assert caught.value.code == 2
    assert stderr.getvalue() == f"your settings {path}, line 1: const.py has no setting ADMIN (did you mean ADMINS?)\n"


def test_the_file_is_beside_const_py_unless_the_environment_names_another_or_none(tmp_path: Path) -> None:
    beside = Path(const.__file__).resolve().parent / "const_local.py"
    assert overrides.settings_path({}) == (beside, False)
    assert overrides.settings_path({"CHAT_CONST_LOCAL": str(tmp_path / "mine.py")}) == (tmp_path / "mine.py", True)
    assert overrides.settings_path({"CHAT_CONST_LOCAL": ""}) == (None, True)
    # No file where the default points: the defaults, no error.
    missing = tmp_path / "const_local.py"
    assert overrides.apply(dict(DEFAULTS), missing, named=False) == overrides.Applied(None, ())
    # A file the environment names must be there: an error, not the defaults in silence.
    with pytest.raises(LocalSettingsError, match=f"your settings {missing} \\(CHAT_CONST_LOCAL\\) cannot be read"):
        overrides.read(missing, DEFAULTS)


def test_the_tests_never_read_a_developers_own_settings() -> None:
    assert os.environ.get("CHAT_CONST_LOCAL") == ""
    assert const.LOCAL_SETTINGS == overrides.Applied(None, ())


def test_const_py_applies_the_file_and_servers_follows_the_address_it_gives(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CHAT_CONST_LOCAL", str(settings_file(tmp_path, "SERVER_PORT = 6000\nADMINS = ('João',)\n")))
    settings = runpy.run_path(const.__file__)
    assert (settings["SERVER_PORT"], settings["ADMINS"], settings["SERVERS"]) == (6000, ("João",), [("127.0.0.1", 6000)])
    assert settings["LOCAL_SETTINGS"] == overrides.Applied(tmp_path / "const_local.py", ("SERVER_PORT", "ADMINS"))
    monkeypatch.setenv("CHAT_CONST_LOCAL", str(settings_file(tmp_path, "SERVERS = [('10.0.0.2', 6000)]\n")))
    assert runpy.run_path(const.__file__)["SERVERS"] == [("10.0.0.2", 6000)]
