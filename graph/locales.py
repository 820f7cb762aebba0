"""Locales: the analyst's language (``en``, ``zh-CN``) for the words, money and months shown.

It lives in ``graph`` because every layer that shows words needs it: ``insight`` renders the
churn reasons, ``api`` the commands, the report and the GraphQL text, and ``graph`` itself
holds the English that is translated (the reason phrases of ``graph.catalogue`` are the
catalog's msgids). ``insight`` and ``api`` may import ``graph``, not each other; ``ontology``
holds the vocabulary only.

The messages are GNU gettext catalogs kept with Babel: ``locale/messages.pot`` is extracted
from the code (:func:`extract`), ``locale/zh_CN/LC_MESSAGES/messages.po`` translates it. The
``.mo`` is compiled from the ``.po`` in memory when first used rather than committed: the
``.po`` stays the one source, and no build step can leave a stale binary behind.
``python -m graph.locales`` rewrites the ``.pot`` and merges it into the ``.po``.
"""

from __future__ import annotations

import gettext
import io
import re
import sys
from collections.abc import Iterable, Iterator
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import IO

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_file
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from babel.numbers import format_compact_decimal, format_decimal

__all__ = ["DEFAULT_LOCALE", "LOCALES", "LOCALE_ENV", "N_", "POT_FILE",
           "extract", "format_money", "format_month", "negotiate", "normalize", "po_file",
           "translator"]

LOCALES: tuple[str, ...] = ("en", "zh-CN")
"""The locales callcircle speaks, as BCP 47 tags (what ``--locale`` and the API take)."""
DEFAULT_LOCALE = "en"
"""The source language of the messages: the English in the code is the msgid."""
LOCALE_ENV = "CALLCIRCLE_LOCALE"
"""The environment variable naming the locale when no ``--locale`` (or argument) says."""

LOCALE_DIR = Path(__file__).parent / "locale"
POT_FILE = LOCALE_DIR / "messages.pot"
DOMAIN = "messages"

SOURCES: tuple[str, ...] = ("graph/catalogue.py", "insight/churn.py", "insight/kpis.py",
                            "insight/report.py", "insight/value.py", "insight/segments.py",
                            "insight/tags/library.py", "insight/rules/starter.yaml",
                            "api/commands.py", "api/explorer_messages.py")
"""Files holding messages, relative to the repository root (``pybabel extract`` inputs).
A ``.yaml`` source is a tag rule library: its ``label:`` values are messages."""
KEYWORDS: dict[str, tuple[int, ...] | None] = {"_": None, "N_": None, "_f": (4,)}
"""Extraction keywords: ``_``/``N_`` mark a message; ``_f``'s 4th argument is a feature's
reason phrase (``graph.catalogue``). Same as ``pybabel extract -k N_ -k _f:4``."""

_ROOT = Path(__file__).parent.parent
_TEN_THOUSAND = 10_000
_VERSION = "0.1"


def N_(message: str) -> str:
    """Mark ``message`` for the catalog where it is defined; it is translated where shown."""
    return message


@lru_cache(maxsize=64)
def normalize(locale: str | None) -> str:
    """One of :data:`LOCALES` for a tag such as ``zh_CN``, ``zh-cn``, ``zh-Hans`` or ``en-GB``.

    ``None`` or an empty string is the default; a language callcircle does not speak (or
    traditional Chinese, which ``zh-CN`` does not serve) raises ``ValueError``.
    """
    if not locale:
        return DEFAULT_LOCALE
    found = _match(locale)
    if found is None:
        raise ValueError(f"unknown locale {locale!r}: use one of {', '.join(LOCALES)}")
    return found


def _match(tag: str) -> str | None:
    try:
        parsed = Locale.parse(tag.replace("_", "-"), sep="-")
    except (UnknownLocaleError, ValueError, TypeError):
        return None
    if parsed.language == "en":
        return "en"
    if parsed.language == "zh" and parsed.script != "Hant":
        return "zh-CN"
    return None


def negotiate(accept_language: str | None, default: str = DEFAULT_LOCALE) -> str:
    """The locale for an ``Accept-Language`` header: the most preferred one we speak, else
    ``default`` (no header, or none of its languages spoken)."""
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and tag != "*" and quality > 0:
            weighted.append((-quality, position, tag.strip()))
    for _, _, tag in sorted(weighted):
        found = _match(tag)
        if found is not None:
            return found
    return default


def po_file(locale: str) -> Path:
    """The translation catalog of a locale (``zh-CN`` → ``locale/zh_CN/LC_MESSAGES``)."""
    return LOCALE_DIR / _babel(locale) / "LC_MESSAGES" / f"{DOMAIN}.po"


def _babel(locale: str) -> str:
    return normalize(locale).replace("-", "_")


def translator(locale: str | None = None) -> gettext.NullTranslations:
    """A gettext translation for ``locale``: identity for English, the ``.po`` for the rest.

    Fuzzy entries are not used: a translation that needs review reads as English.
    """
    return _translator(normalize(locale))


@lru_cache(maxsize=len(LOCALES))
def _translator(locale: str) -> gettext.NullTranslations:
    if locale == DEFAULT_LOCALE:
        return gettext.NullTranslations()
    with open(po_file(locale), "rb") as handle:
        catalog = read_po(handle, locale=_babel(locale), domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def format_money(amount: float, locale: str | None = None) -> str:
    """Yuan as the locale writes them: ``¥12,345``; in ``zh-CN`` ``¥1.2万`` from 10,000 on."""
    locale = normalize(locale)
    sign = "-" if amount < 0 else ""
    yuan = round(abs(amount))
    if locale == "zh-CN" and yuan >= _TEN_THOUSAND:
        figure = format_compact_decimal(yuan, locale="zh_CN", fraction_digits=1)
    else:
        figure = format_decimal(yuan, format="#,##0", locale=_babel(locale))
    return f"{sign}¥{figure}"


def format_month(month: date, locale: str | None = None) -> str:
    """A month as the locale writes it: ``July 2026``, ``2026年7月``."""
    locale = normalize(locale)
    pattern = "y年M月" if locale == "zh-CN" else "MMMM y"
    return format_date(month, pattern, locale=_babel(locale))


def extract(sources: Iterable[str] = SOURCES) -> Catalog:
    """The messages of the code, as ``pybabel extract`` would write them into the ``.pot``."""
    catalog = Catalog(project="callcircle", version=_VERSION, domain=DOMAIN, fuzzy=False,
                      copyright_holder="the callcircle authors")
    for source in sources:
        method = _extract_labels if source.endswith(".yaml") else "python"
        for lineno, message, comments, context in extract_from_file(
                method, _ROOT / source, keywords=KEYWORDS):
            catalog.add(message, None, [(source, lineno)], auto_comments=comments,
                        context=context)
    return catalog


def _extract_labels(fileobj: IO[bytes], keywords: object, comment_tags: object,
                    options: object) -> Iterator[tuple[int, str, str, list[str]]]:
    """Babel extraction method for a rule library's YAML: each ``label:`` is a message."""
    for lineno, line in enumerate(fileobj.read().decode("utf-8").splitlines(), 1):
        for found in re.finditer(r"\blabel: *([^,}\n]+)", line):
            yield lineno, "N_", found.group(1).strip().strip("'\""), []


def update() -> None:
    """Rewrite the ``.pot`` from the code and merge it into every locale's ``.po``."""
    template = extract()
    with open(POT_FILE, "wb") as handle:
        write_po(handle, template, omit_header=False, sort_output=False, width=100)
    for locale in LOCALES:
        if locale == DEFAULT_LOCALE:
            continue
        path = po_file(locale)
        with open(path, "rb") as handle:
            catalog = read_po(handle, locale=_babel(locale), domain=DOMAIN)
        catalog.update(template, no_fuzzy_matching=True)
        with open(path, "wb") as handle:
            write_po(handle, catalog, omit_header=False, sort_output=False, width=100,
                     ignore_obsolete=True)


if __name__ == "__main__":  # python -m graph.locales
    update()
    print(f"wrote {POT_FILE} and merged it into the catalogs", file=sys.stderr)
