"""The command words: every command's names in each language, in one table for the
terminal client (client/commands.py parses them) and the server's terminal
(server/console.py takes the names of those it has).
"""

from __future__ import annotations

import i18n

# Every command word, by its English name: the names it has in each language (the first
# of a language is the one /help shows). Any name works whatever the language in use. The
# server's terminal takes the names of those it has too (server/console.py).
COMMAND_WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "to": {"en": ("to",), "pt_BR": ("para",)},
    "query": {"en": ("query",), "pt_BR": ("conversa",)},
    "msg": {"en": ("msg",), "pt_BR": ("mensagem",)},
    "reply": {"en": ("reply", "r"), "pt_BR": ("responder",)},
    "all": {"en": ("all", "room"), "pt_BR": ("todos", "sala")},
    # "lookup", "lista" and "registro": the original assignments' words for the registry's
    # entry, its list, and the registry itself (names, addresses, ports: what /who lists).
    "who": {"en": ("who",), "pt_BR": ("quem", "lista", "registro")},
    "whois": {"en": ("whois", "lookup"), "pt_BR": ("onde",)},
    "history": {"en": ("history",), "pt_BR": ("historico", "histórico")},
    "block": {"en": ("block",), "pt_BR": ("bloquear",)},
    "unblock": {"en": ("unblock",), "pt_BR": ("desbloquear",)},
    "register": {"en": ("register",), "pt_BR": ("registrar",)},
    "password": {"en": ("password",), "pt_BR": ("senha",)},
    "unregister": {"en": ("unregister",), "pt_BR": ("descadastrar",)},
    "receipts": {"en": ("receipts",), "pt_BR": ("recibos",)},
    "join": {"en": ("join",), "pt_BR": ("entrar",)},
    "leave": {"en": ("leave", "part"), "pt_BR": ("deixar",)},
    "rooms": {"en": ("rooms",), "pt_BR": ("salas",)},
    "members": {"en": ("members",), "pt_BR": ("membros",)},
    "invite": {"en": ("invite",), "pt_BR": ("convidar",)},
    "topic": {"en": ("topic",), "pt_BR": ("tema",)},
    "kick": {"en": ("kick",), "pt_BR": ("expulsar",)},
    "ban": {"en": ("ban",), "pt_BR": ("banir",)},
    "unban": {"en": ("unban",), "pt_BR": ("desbanir",)},
    "mute": {"en": ("mute",), "pt_BR": ("silenciar",)},
    "unmute": {"en": ("unmute",), "pt_BR": ("dessilenciar",)},
    "edit": {"en": ("edit",), "pt_BR": ("editar",)},
    "delete": {"en": ("delete",), "pt_BR": ("apagar",)},
    "help": {"en": ("help", "?"), "pt_BR": ("ajuda",)},
    "quit": {"en": ("quit", "exit"), "pt_BR": ("sair",)},
}


def command_names(word: str, language: str | None = None,
                  table: dict[str, dict[str, tuple[str, ...]]] = COMMAND_WORDS) -> tuple[str, ...]:
    """The names of command ``word`` (its English name) in ``table`` (one shaped as
    COMMAND_WORDS), those of ``language`` (default: the one in use) first, then English,
    then any other."""
    names = table[word]
    lang = i18n.current() if language is None else language
    order = [lang, "en", *sorted(names)]
    seen: list[str] = []
    for key in order:
        seen.extend(name for name in names.get(key, ()) if name not in seen)
    return tuple(seen)
