"""Where the server keeps its database when nobody says: the program's own folder, not
the folder it happened to be started from (README.md, "Offline messages, history and the
data directory")."""

from pathlib import Path

import chatserver
import const

PROGRAM_FOLDER = Path(chatserver.__file__).resolve().parent


def test_the_default_data_folder_is_beside_the_program_wherever_it_is_started_from(tmp_path, monkeypatch):
    """``python3 ~/chat/chatserver.py`` started from the home folder made ~/data, a new
    empty database: the class's accounts and history seemed gone."""
    monkeypatch.chdir(tmp_path)
    assert chatserver.config_from(chatserver.parse_args([])).data_dir == PROGRAM_FOLDER / "data"
    # --backup copies that same database, not one of the current folder.
    assert chatserver.parse_args(["--backup", "copia"]).data == str(PROGRAM_FOLDER / "data")


def test_a_relative_data_dir_setting_is_in_the_program_s_folder_too(tmp_path, monkeypatch):
    """A setting (const.py, const_local.py beside it) is the program's, as the default is."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(const, "DATA_DIR", "dados")
    assert chatserver.config_from(chatserver.parse_args([])).data_dir == PROGRAM_FOLDER / "dados"
    monkeypatch.setattr(const, "DATA_DIR", str(tmp_path / "chat"))
    assert chatserver.config_from(chatserver.parse_args([])).data_dir == tmp_path / "chat"


def test_data_given_on_the_command_line_is_from_the_current_folder_as_the_shell_means_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert chatserver.config_from(chatserver.parse_args(["--data", "data"])).data_dir == tmp_path / "data"
    assert chatserver.config_from(chatserver.parse_args(["--data", "/srv/chat"])).data_dir == Path("/srv/chat")


def test_help_names_the_default_data_folder_in_full(capsys):
    """"(default data)" read as a folder of wherever the teacher stood."""
    try:
        chatserver.parse_args(["--help", "--lang", "en"])
    except SystemExit:
        pass
    shown = "".join(capsys.readouterr().out.split())  # (argparse wraps lines, even at a hyphen)
    assert f"(default{PROGRAM_FOLDER / 'data'})" in shown
