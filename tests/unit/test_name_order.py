"""The one order of names (registry/collation.py): numbers in names by their value."""

from __future__ import annotations

from registry.collation import name_order


def test_numbers_in_names_sort_by_value():
    names = ["Aluno10", "aluno2", "Aluno1", "Aluno02", "Aluno", "Bruno9", "Ana100", "Ana20"]
    assert sorted(names, key=name_order) == \
        ["Aluno", "Aluno1", "Aluno02", "aluno2", "Aluno10", "Ana20", "Ana100", "Bruno9"]


def test_accents_still_sit_beside_their_letters_with_numbers():
    names = ["Álvaro10", "Alvaro2", "Álvaro2", "Alice", "Zé1", "Érica3", "Conceição", "Carlos"]
    assert sorted(names, key=name_order) == \
        ["Alice", "Alvaro2", "Álvaro2", "Álvaro10", "Carlos", "Conceição", "Érica3", "Zé1"]
