"""The page's words for a name refused as a look-alike of a reserved word (webclient/lang.js,
run in node with the catalogue it loads): "'ALI' looks too much like 'all', a name already in
use here: if 'all' is yours, type it exactly so" was false; nobody holds a reserved word."""

from __future__ import annotations

import json

import pytest
from test_webclient_clock import run_page

CLOCK = 1_795_000_000.0


def said(frame: dict, language: str) -> str:
    """The page's sentence for the error ``frame`` refusing the hello of ALI."""
    tables = ("Object.assign(i18n, {liked: catalogue.liked, reservedTexts: catalogue.reserved || {}, "
              "needsName: catalogue.needs_name, needsLike: catalogue.needs_like})")
    return run_page(f"({tables}, explainFrame({json.dumps(frame)}, 'server words', 'ALI'))", language, CLOCK,
                    "America/Sao_Paulo", extra=("explainFrame",))


@pytest.mark.parametrize("language, sentence", [
    ("en", "the name ALI looks too much like all, a word reserved for the server: choose another name"),
    ("pt_BR", "o nome ALI se parece demais com all, uma palavra reservada ao servidor: escolha outro nome")])
def test_a_look_alike_of_a_reserved_word_is_said_to_be_reserved(language: str, sentence: str) -> None:
    frame = {"type": "error", "code": "confusable_name", "message": "x", "like": "all", "reserved": True}
    assert said(frame, language) == sentence


def test_a_look_alike_of_someones_name_is_said_as_before() -> None:
    frame = {"type": "error", "code": "confusable_name", "message": "x", "like": "João"}
    assert said(frame, "en") == "the name ALI looks too much like João, a name already in use here: if João is " \
                                "yours, type it exactly so; otherwise choose another name"
