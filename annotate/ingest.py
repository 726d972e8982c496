"""Ingest raw articles into ``corpus/documents.jsonl``: one clean document record per article.

The stages, each a small function over plain data:

1. :func:`collect_files` expands the paths (files or folders) into a sorted file list.
2. :func:`decode` turns bytes into text: BOM stripped, strict UTF-8, else cp1252 with a warning
   (refused when charset-normalizer says the bytes are a multi-byte or non-Latin encoding, so
   cp1252 would be mojibake; a guess of another Latin code page such as cp1250 is named in the
   warning, not obeyed); empty and binary files are refused. Newlines become LF.
3. :func:`clean_text` (plain text, Markdown-ish text, PDF-extracted hard-wrapped text) and
   :func:`html_to_text` (trafilatura) give the article text with paragraphs separated by one
   blank line, plus what was found about it (title, url, outlet, date, boilerplate lines).
4. :func:`ingest` streams every document to a spool file, finds exact duplicates by text hash
   and near duplicates by word-shingle Jaccard similarity (:class:`NearDuplicateIndex`:
   datasketch MinHash + LSH for candidates, exact Jaccard on the candidates), then writes the
   output atomically, line by line. It returns plain data: counts, problems, warnings, duplicates.

Line-break hyphenation (``rebel-\\nheld``): the hyphen is kept, because the hyphen of a compound
("rebel-held", "air-dropped") must survive and deleting a character needs evidence. It is
dropped only when the document has evidence that the wrap broke a word: the joined word occurs
elsewhere in the same document, or the part after the break is a bare suffix ("-tion", "-ment").

What leaves the text for ``meta`` (so that copies of one story come out character-aligned): the
title (a Markdown heading, or a short first line without final punctuation that the next line
does not continue: see :func:`continues`), byline, date line,
photo credit, "Related article: ..." lines, "Posts Related", "Original url:" + URL, bare URL
lines, a republication notice and a final "(Source: ...)". Quotes, dashes and spelling are kept
as the source has them (NFC-normalized); only spaces, newlines and invisible characters change.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import os
import re
import tempfile
import unicodedata
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import urlsplit

from .errors import InputError
from .jsonl import atomic_open, dumps

DEFAULT_NEAR_THRESHOLD = 0.5
SHINGLE_WORDS = 5
NUM_PERM = 128

FORMATS = {".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown",
           ".html": "html", ".htm": "html", ".xhtml": "html", ".jsonl": "jsonl"}

Progress = Callable[[int, int, str], None]  # (files done, files total, current file)


class Problem(Exception):
    """One bad input, as the line to show: ``file[:line]: message``."""

    @classmethod
    def at(cls, where: str, line: int | None, message: str) -> "Problem":
        return cls(str(InputError.at(where, line, message)))


# ---------------------------------------------------------------- 1. files

def shown_path(path: str | Path) -> str:
    """The path as the user should see it: relative to the working folder when inside it, POSIX slashes."""
    path = Path(path)
    if not path.is_absolute():
        return path.as_posix()
    cwd = os.getcwd()
    try:
        inside = os.path.commonpath([cwd, os.path.abspath(path)]) == cwd
    except ValueError:  # another drive on Windows
        inside = False
    return Path(os.path.relpath(path)).as_posix() if inside else path.as_posix()


def _walk(folder: Path) -> Iterator[tuple[str, Path]]:
    """Files below a folder as (path relative to it, path), hidden files and folders left out."""
    for top, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        rel_top = Path(os.path.relpath(top, folder))
        for name in sorted(names):
            if not name.startswith("."):
                yield (rel_top / name).as_posix(), Path(top) / name


def collect_files(paths: Iterable[str | Path], exclude: Iterable[Path] = ()
                  ) -> tuple[list[tuple[str, Path]], list[str], list[str]]:
    """Expand files and folders into a sorted, de-duplicated list of ``(shown path, path)``.

    Folders are searched recursively for the known extensions (hidden files skipped); a file named
    explicitly is taken whatever its extension (read as text). Returns (files, problems, warnings).
    """
    skip = {os.path.abspath(p) for p in exclude}
    found: dict[str, tuple[str, Path]] = {}
    problems: list[str] = []
    warnings: list[str] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            root = shown_path(path).rstrip("/")
            for rel, sub in _walk(path):
                shown = f"{root}/{rel}" if root not in ("", ".") else rel
                if Path(rel).suffix.lower() not in FORMATS:
                    warnings.append(f"{shown}: skipped, not a known input type ({', '.join(sorted(FORMATS))})")
                elif os.path.abspath(sub) not in skip and sub.is_file():
                    found.setdefault(os.path.abspath(sub), (shown, sub))
        elif path.is_file():
            if os.path.abspath(path) not in skip:
                found.setdefault(os.path.abspath(path), (shown_path(path), path))
        else:
            problems.append(f"{path.as_posix()}: no such file or folder")
    return sorted(found.values(), key=lambda item: item[0]), problems, warnings


# ---------------------------------------------------------------- 2. bytes -> text

_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"),
         (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))
_CP1252_LIKE = {"cp1252", "windows_1252", "latin_1", "iso8859_1", "iso8859_15", "ascii"}
# Single-byte code pages of Latin-script languages (Python codec names, as charset-normalizer gives
# them): a guess among these for bytes cp1252 decodes is not evidence against cp1252.
_LATIN_SINGLE_BYTE = _CP1252_LIKE | {
    "cp1250", "cp1254", "cp1257", "cp1258", "iso8859_2", "iso8859_3", "iso8859_4", "iso8859_9", "iso8859_10",
    "iso8859_13", "iso8859_14", "iso8859_16", "cp437", "cp775", "cp850", "cp852", "cp857", "cp858", "cp860",
    "cp861", "cp863", "cp865", "mac_roman", "mac_latin2", "mac_iceland", "mac_turkish", "hp_roman8"}
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{2,40})""", re.I)
_NOT_CONTROL_BYTES = bytes(b for b in range(256) if not (b <= 0x08 or 0x0E <= b <= 0x1F or b == 0x7F))


def declared_charset(raw: bytes) -> str | None:
    """The charset an HTML page declares in its first 4 KB (<meta charset> or http-equiv), if a known codec."""
    import codecs

    m = _META_CHARSET.search(raw[:4096])
    if not m:
        return None
    try:
        return codecs.lookup(m.group(1).decode("ascii")).name
    except (LookupError, UnicodeDecodeError):
        return None


def decode(raw: bytes, where: str, declared: str | None = None) -> tuple[str, str, str | None]:
    """Decode a text file: returns (text with LF newlines, encoding used, warning or None).

    Not UTF-8: the ``declared`` charset of an HTML page if it decodes the bytes, else cp1252.
    Raises :class:`Problem` for an empty file, a binary file, or bytes that are neither UTF-8 nor
    cp1252 (or that charset-normalizer identifies as another encoding, which cp1252 would garble).
    """
    if not raw.strip():
        raise Problem.at(where, None, "empty file")
    warning = None
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            try:
                text = raw[len(bom):].decode(encoding)
            except UnicodeDecodeError as e:
                raise Problem.at(where, None, f"undecodable bytes: {encoding} byte order mark, but "
                                              f"invalid {encoding} at byte {e.start + len(bom)}") from None
            break
    else:
        if b"\x00" in raw:
            raise Problem.at(where, None, "binary file (contains NUL bytes); expected text, HTML or JSONL")
        try:
            text, encoding = raw.decode("utf-8"), "utf-8"
        except UnicodeDecodeError as e:
            text = _decode_declared(raw, declared)
            if text is not None:
                encoding = declared
                warning = f"{where}: not UTF-8; decoded as {declared}, the charset the page declares"
            else:
                (text, guessed), encoding = _decode_fallback(raw, where, e.start), "cp1252"
                warning = (f"{where}: not UTF-8 (byte 0x{raw[e.start]:02x} at offset {e.start}); "
                           f"decoded as cp1252, check the text")
                if guessed:
                    warning += (f" (charset-normalizer guessed {guessed}, another Latin code page; if the text "
                                f"is in that language: iconv -f {guessed} -t utf-8)")
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n").replace("\v", "\n")
    if not text.strip():
        raise Problem.at(where, None, "empty file")
    if encoding in ("utf-8", "cp1252") or encoding.startswith(("iso8859", "cp125")):  # single-byte controls
        controls = len(raw.translate(None, _NOT_CONTROL_BYTES))
    else:
        controls = len(_CONTROL.findall(text))
    if controls > max(2, len(text) // 100):
        raise Problem.at(where, None, f"binary file ({controls} control characters); expected text, HTML or JSONL")
    return text, encoding, warning


def _decode_declared(raw: bytes, declared: str | None) -> str | None:
    if not declared or declared == "utf-8":
        return None
    try:
        return raw.decode(declared)
    except UnicodeDecodeError:
        return None


def _decode_fallback(raw: bytes, where: str, bad_at: int) -> tuple[str, str | None]:
    """cp1252, unless charset-normalizer identifies the bytes as a multi-byte or non-Latin encoding
    that cp1252 would garble. Returns (text, what charset-normalizer guessed when it was another
    single-byte Latin code page, else None).

    Single-byte Latin code pages (cp1250, cp1257, iso-8859-2, cp850, ...) share most of their
    letters, so a short Western text often gets another one's name ("naïve" in cp1252 is guessed
    cp1250, whose reading is "naďve"): cp1252, the usual Western Windows encoding, is taken then.
    """
    import charset_normalizer

    not_utf8 = f"not UTF-8 (byte 0x{raw[bad_at]:02x} at offset {bad_at})"
    try:
        text = raw.decode("cp1252")
    except UnicodeDecodeError as e:
        raise Problem.at(where, None, f"undecodable bytes: {not_utf8} and not cp1252 (byte 0x{raw[e.start]:02x} "
                                      f"at offset {e.start}); convert it to UTF-8") from None
    best = charset_normalizer.from_bytes(raw).best()
    if best is None:
        raise Problem.at(where, None, f"undecodable bytes: {not_utf8} and not recognisable text; convert it to UTF-8")
    if best.encoding in _CP1252_LIKE or str(best) == text:
        return text, None
    if best.encoding in _LATIN_SINGLE_BYTE:
        return text, best.encoding
    raise Problem.at(where, None, f"not UTF-8; the bytes look like {best.encoding}, which cp1252 would "
                                  f"garble; convert it to UTF-8 (iconv -f {best.encoding} -t utf-8)")


# ---------------------------------------------------------------- 3. text -> clean article text

# One pass of str.translate: odd spaces and tabs -> space, form feed and vertical tab -> newline,
# deleted: soft hyphen, zero-width space, word joiner, BOM, other C0 controls.
_TRANSLATE = {**{c: " " for c in [0x09, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x202F, 0x205F, 0x3000]},
              0x0B: "\n", 0x0C: "\n",
              **{c: None for c in [0xAD, 0x200B, 0x2060, 0xFEFF, *range(0x00, 0x09), *range(0x0E, 0x20), 0x7F]}}
_SPACES = re.compile(r" {2,}")
_LINE_EDGES = re.compile(r" ?\n ?")
_TERMINAL = tuple('.!?:;"\u201d\u2019)')

# Markdown-ish inline syntax -> its text.
_MD_SIGNS = re.compile(r"^#{1,6}\s|\*\*[^*\n]+\*\*|__[^_\n]+__|\[[^\]\n]+\]\([^)\s]*\)|^<https?://[^>\s]+>\s*$",
                       re.M)
_MD_INLINE = (  # (a character the syntax needs, pattern, replacement)
    ("[", re.compile(r"!\[([^\]\n]*)\]\([^)\n]*\)"), ""),                       # images
    ("[", re.compile(r"\[([^\]\n]+)\]\([^)\s]*(?:\s+\"[^\"\n]*\")?\)"), r"\1"),  # [text](url "title")
    ("<", re.compile(r"<(https?://[^>\s]+)>"), r"\1"),                          # <https://...>
    ("*", re.compile(r"(\*\*)(?=\S)(.+?)(?<=\S)\*\*"), r"\2"),                 # **bold**
    ("_", re.compile(r"(__)(?=\S)(.+?)(?<=\S)__"), r"\2"),                       # __bold__
    ("*", re.compile(r"(?<![\w*])\*(?=[^\s*])([^*\n]+?)(?<=[^\s*])\*(?![\w*])"), r"\1"),  # *italic*
    ("_", re.compile(r"(?<![\w_])_(?=[^\s_])([^_\n]+?)(?<=[^\s_])_(?![\w_])"), r"\1"),    # _italic_
    ("`", re.compile(r"`([^`\n]+)`"), r"\1"),                                   # `code`
    ("\\", re.compile(r"\\([\\`*_{}\[\]()#+\-.!>])"), r"\1"),                    # escapes
)
_MD_HEADING = re.compile(r"^#{1,6}\s+(.*?)(?:\s+#+)?\s*$")
_MD_RULE = re.compile(r"^(?:[-*_]\s*){3,}$")
_MD_BULLET = re.compile(r"^(?:[-*+]|\d{1,3}[.)])\s+")

# Boilerplate lines: moved out of the text into meta.
_RELATED = re.compile(r"^(?:related(?: articles?| posts?| stories| story| coverage| content| news)?|read (?:more|also)"
                      r"|see also|also read)\s*[:\u2013\u2014-]\s*(.+)$", re.I)
_BOILER = re.compile(r"^(?:posts? related|related(?: articles| posts| stories)?|read more|share(?: this(?: article)?)?"
                     r"|advertisement|(?:\u00a9|\(c\)|copyright)\s*\u00a9?\s*(?:\d{4}|.{0,80}all rights reserved).{0,100})$",
                     re.I)
_URL_LABEL = re.compile(r"^(?:original (?:url|link|article|source)|source (?:url|link)|url|link)\s*:\s*(\S*)$", re.I)
_URL_LINE = re.compile(r"^<?(https?://[^\s<>]+?)>?$")
# A republication notice names the outlet; it needs "originally/first" or "with permission", so that
# news sentences such as "The report was published by the UN on Monday." stay in the text.
_REPUBLISHED = re.compile(r"^this (?:article|story|report|piece) (?:was|is|has been) "
                          r"(?:(?:originally|first) (?:published|posted|appeared) (?:by|in|on|at) (.{2,100}?)"
                          r"(?:,? and (?:is|was|has been) (?:re)?(?:printed|published|posted)\b.{0,60}?)?"
                          r"|(?:published|posted) (?:by|in|on|at) (.{2,100}?),? and (?:is|was|has been) "
                          r"(?:re)?(?:printed|published|posted) with permission)\.?$", re.I)
_SOURCE_TAIL = re.compile(r"\s*\((?:source|via)\s*:\s*([^()\n]{2,120})\)\s*$", re.I)

# Front matter: the short lines before the first body paragraph.
_BYLINE = re.compile(r"^by\s+(\S.{0,78})$", re.I)
_CREDIT = re.compile(r"^(?:(?:photo|image|picture)(?: credit)?\s*:\s*.{2,80}|[^\s/.][^/.!?]{1,60}\s/\s[^/.!?]{1,40})$", re.I)
_DATE_FORMATS = ("%B %d, %Y", "%b %d, %Y", "%d %B %Y", "%d %b %Y", "%Y-%m-%d", "%B %d %Y", "%b. %d, %Y")
_DATE_PREFIX = re.compile(r"^(?:published|updated|posted|date)?\s*:?\s*(?:(?:mon|tues|wednes|thurs|fri|satur|sun)day,?\s*)?",
                          re.I)
_URL_DATE = re.compile(r"/((?:19|20)\d\d)/(\d\d)/(\d\d)(?:/|$)")

# Line-break hyphenation: a part after the break that is a bare suffix shows a broken word.
_SUFFIXES = frozenset("""tion tions sion sions ment ments ness nesses ity ities ance ances ence ences able ably ible
    ibly ous ously ive ives ively ize izes ized izing ise ises ised ising ism isms ist ists ure ures ture tures ant ants
    ent ents ing ings ial ially ical ically tive tives ly ally ful less ship ships hood ward wards""".split())


@dataclass
class Article:
    """Clean text plus what was learnt about it while cleaning."""

    text: str
    title: str | None = None
    url: str | None = None
    outlet: str | None = None
    date: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    markdown: bool = False


def normalize_text(text: str) -> str:
    """Unicode NFC, LF newlines, no invisible characters, single spaces, stripped lines."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").translate(_TRANSLATE)
    text = unicodedata.normalize("NFC", text)
    if "  " in text:
        text = _SPACES.sub(" ", text)
    if " \n" in text or "\n " in text:
        text = _LINE_EDGES.sub("\n", text)
    return text.strip(" ")


def looks_like_markdown(text: str) -> bool:
    """Two or more Markdown signs: a heading, **bold**, [link](url) or a <https://...> line."""
    if not ("#" in text or "**" in text or "__" in text or "](" in text or "<http" in text):
        return False
    return next(itertools.islice(_MD_SIGNS.finditer(text), 1, None), None) is not None


def _md_line(line: str) -> tuple[str, str]:
    """One Markdown line -> (kind, text): kind is heading, bullet, rule or line."""
    m = _MD_HEADING.match(line)
    if m:
        kind, line = "heading", m.group(1)
    elif _MD_RULE.match(line):
        return "rule", ""
    else:
        kind = "line"
        if line.startswith(">"):
            line = line.lstrip("> ")
        if _MD_BULLET.match(line):
            kind, line = "bullet", _MD_BULLET.sub("", line, count=1)
    for needs, pattern, repl in _MD_INLINE:
        if needs in line:
            line = pattern.sub(repl, line)
    return kind, line.strip()


def _take_boilerplate(lines: list[tuple[str, str]], art: Article) -> list[tuple[str, str]]:
    """Remove boilerplate lines (replaced by paragraph breaks), recording them in ``art``."""
    out: list[tuple[str, str]] = []
    boiler: list[str] = art.extra.setdefault("boilerplate", [])
    related: list[str] = art.extra.setdefault("related", [])
    want_url = False
    for kind, line in lines:
        if not line:
            out.append((kind, line))
            continue
        if want_url and _URL_LINE.match(line):
            art.url = art.url or _URL_LINE.match(line).group(1)
            boiler.append(line)
            want_url = False
            out.append(("line", ""))
            continue
        want_url = False
        m_rel, m_url, m_rep = _RELATED.match(line), _URL_LABEL.match(line), _REPUBLISHED.match(line)
        if m_rel:
            related.append(m_rel.group(1).strip())
        elif m_url:
            inline = _URL_LINE.match(m_url.group(1))
            if inline:
                art.url = art.url or inline.group(1)
            want_url = not m_url.group(1)
        elif m_rep:
            art.outlet = art.outlet or (m_rep.group(1) or m_rep.group(2)).strip()
        elif _URL_LINE.match(line):
            art.url = art.url or _URL_LINE.match(line).group(1)
        elif not _BOILER.match(line):
            out.append((kind, line))
            continue
        boiler.append(line)
        out.append(("line", ""))
    return out


def _blocks(lines: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """Group lines into blocks separated by blank lines."""
    blocks: list[list[tuple[str, str]]] = [[]]
    for kind, line in lines:
        if line:
            blocks[-1].append((kind, line))
        elif blocks[-1]:
            blocks.append([])
    return [b for b in blocks if b]


def _is_hard_wrapped(blocks: list[list[tuple[str, str]]]) -> tuple[bool, int]:
    """Is the text hard-wrapped (PDF or e-mail style)? Returns (wrapped, wrap width).

    In wrapped text most line ends fall mid-sentence; in one-paragraph-per-line text they end a sentence.
    """
    continued = [line for block in blocks for _, line in block[:-1]]
    if len(continued) < 2:
        return False, 0
    ends_sentence = sum(line.endswith(_TERMINAL) for line in continued)
    lengths = sorted(len(line) for line in continued)
    width = lengths[int(0.9 * (len(lengths) - 1))]
    return ends_sentence / len(continued) < 0.5, width


def _join_hyphenated(left: str, right: str, context: str) -> str:
    """Join ``left`` (ending in ``letter-``) and ``right`` split by a line break (see module docstring)."""
    head = re.search(r"(\w+)-$", left[-80:])
    tail = re.match(r"\w+", right)
    if not head or not tail or not right[0].islower():
        return left + right
    joined = (head.group(1) + tail.group(0)).lower()
    hyphenated = f"{head.group(1)}-{tail.group(0)}".lower()
    if tail.group(0).lower() in _SUFFIXES or (
            re.search(rf"\b{re.escape(joined)}\b", context) and hyphenated not in context):
        return left[:-1] + right
    return left + right


def _join_lines(lines: list[str], context: str) -> str:
    text = lines[0]
    for line in lines[1:]:
        if text.endswith("-") and len(text) > 1 and text[-2].isalnum():
            text = _join_hyphenated(text, line, context)
        elif text.endswith(("\u2014", "\u2013")) and len(text) > 1 and text[-2].isalnum():
            text = text + line  # "word\u2014\nnext": a dash set solid stays solid
        else:
            text = f"{text} {line}"
    return text


# Words a sentence does not end on: a line ending in one is wrapped mid-sentence.
_FUNCTION_WORDS = frozenset("""a an the of in on at to for from by with and or but nor as than that which who whom
whose into onto over under after before near about against between during through within without across toward
towards this these those its their his her our your my is are was were be been being has have had will would can
could shall should may might must not""".split())


def continues(line: str, following: str) -> bool:
    """Does ``following`` (the next line, no blank line between) continue the sentence ``line`` is in?

    Yes when it starts in lowercase ("...on the town" / "of Kafr Nabl on Monday"), or when ``line``
    has no final punctuation and ends in a function word ("...dropped on the" / "Syrian town").
    """
    if not following:
        return False
    if following[0].islower():
        return True
    words = line.rsplit(None, 1)
    return not line.endswith(_TERMINAL) and bool(words) and words[-1].lower() in _FUNCTION_WORDS


def _join_continued(block: list[tuple[str, str]], context: str) -> list[tuple[str, str]]:
    """Lines of a one-paragraph-per-line block, each joined with the lines that continue it."""
    out: list[tuple[str, str]] = []
    current: list[str] = []
    for i, (kind, line) in enumerate(block):
        if kind != "line":
            out.append((kind, line))
            continue
        current.append(line)
        nxt = block[i + 1] if i + 1 < len(block) else None
        if nxt is None or nxt[0] != "line" or not continues(line, nxt[1]):
            out.append(("line", _join_lines(current, context)))
            current = []
    return out


def _paragraphs(blocks: list[list[tuple[str, str]]], markdown: bool, context: str) -> list[tuple[str, str]]:
    """Re-join wrapped lines into paragraphs: returns (kind, paragraph) pairs."""
    wrapped, width = _is_hard_wrapped(blocks)
    paragraphs: list[tuple[str, str]] = []
    for block in blocks:
        if not (wrapped or markdown):  # one paragraph per line, but a line the next one continues is wrapped
            paragraphs.extend(_join_continued(block, context))
            continue
        current: list[str] = []
        for i, (kind, line) in enumerate(block):
            if kind in ("heading", "bullet"):
                if current:
                    paragraphs.append(("line", _join_lines(current, context)))
                    current = []
                paragraphs.append((kind, line))
                continue
            current.append(line)
            short_end = wrapped and line.endswith(_TERMINAL) and len(line) < 0.8 * width
            if short_end and i < len(block) - 1:
                paragraphs.append(("line", _join_lines(current, context)))
                current = []
        if current:
            paragraphs.append(("line", _join_lines(current, context)))
    return paragraphs


def parse_date(line: str) -> str | None:
    """An ISO date (YYYY-MM-DD) if the whole line is a date, else None."""
    candidate = _DATE_PREFIX.sub("", line.strip()).strip().rstrip(".")
    if not candidate or len(candidate) > 40:
        return None
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(candidate, fmt).date().isoformat()
        except ValueError:
            continue
    return None


def _is_headline(kind: str, text: str) -> bool:
    return kind == "heading" or (len(text) <= 150 and len(text.split()) >= 2 and not text.endswith(_TERMINAL + (",",)))


def _front_matter(paragraphs: list[tuple[str, str]], art: Article) -> list[tuple[str, str]]:
    """Take title, byline, date and photo credit from the paragraphs before the body."""
    rest = list(paragraphs)
    if len(rest) > 1 and _is_headline(*rest[0]) and (rest[0][0] == "heading" or not _BYLINE.match(rest[0][1])) \
            and not parse_date(rest[0][1]):
        art.title = art.title or rest[0][1]
        rest.pop(0)
    while len(rest) > 1:
        text = rest[0][1]
        m_by = _BYLINE.match(text)
        date = parse_date(text)
        if m_by:
            art.extra["byline"] = m_by.group(1).strip()
        elif date:
            art.date = art.date or date
        elif _CREDIT.match(text):
            art.extra["credit"] = text
        else:
            break
        rest.pop(0)
    return rest


def _source_tail(paragraphs: list[tuple[str, str]], art: Article) -> list[tuple[str, str]]:
    """A trailing "(Source: X)" credit on the last paragraph becomes meta.outlet."""
    if not paragraphs:
        return paragraphs
    kind, last = paragraphs[-1]
    tail_at = max(0, len(last) - 160)
    m = _SOURCE_TAIL.search(last, tail_at)
    if not m:
        return paragraphs
    art.outlet = art.outlet or m.group(1).strip()
    art.extra.setdefault("boilerplate", []).append(m.group(0).strip())
    head = last[:m.start()].rstrip()
    return paragraphs[:-1] + ([(kind, head)] if head else [])


def _finish(art: Article, paragraphs: list[tuple[str, str]]) -> Article:
    art.text = "\n\n".join(text for _, text in paragraphs if text)
    if art.date is None and art.url:
        m = _URL_DATE.search(urlsplit(art.url).path)
        if m:
            try:
                art.date = datetime(int(m.group(1)), int(m.group(2)), int(m.group(3))).date().isoformat()
            except ValueError:
                pass
    if art.outlet is None and art.url:
        host = urlsplit(art.url).hostname or ""
        art.outlet = host.removeprefix("www.") or None
    art.extra = {k: v for k, v in art.extra.items() if v}
    return art


def clean_text(text: str, markdown: bool | None = None) -> Article:
    """Clean plain, Markdown-ish or PDF-extracted text into paragraphs (blank line between).

    ``markdown=None`` sniffs the text for Markdown syntax.
    """
    text = normalize_text(text)
    if markdown is None:
        markdown = looks_like_markdown(text)
    lines = [_md_line(line) if markdown else ("line", line) for line in text.split("\n")]
    art = Article(text="", markdown=markdown)
    lines = _take_boilerplate(lines, art)
    context = " ".join(line for _, line in lines if line).lower()
    paragraphs = _paragraphs(_blocks(lines), markdown, context)
    paragraphs = _front_matter(paragraphs, art)
    paragraphs = _source_tail(paragraphs, art)
    return _finish(art, paragraphs)


def html_to_text(html: str) -> Article:
    """The article of an HTML page (trafilatura: no script, style, nav, footer, comments), as clean text."""
    import trafilatura

    doc = trafilatura.bare_extraction(html, with_metadata=True, include_comments=False, include_tables=False,
                                      deduplicate=False)
    body = (doc.text or "") if doc is not None else ""
    art = Article(text="")
    if doc is not None:
        art.title, art.url, art.date = doc.title or None, doc.url or None, doc.date or None
        art.outlet = doc.sitename or None
        if doc.author:
            art.extra["byline"] = doc.author
    lines = [("line", line) for line in normalize_text(body).split("\n")]
    if art.title and lines and lines[0][1] == art.title:
        lines = lines[1:]
    lines = _take_boilerplate(lines, art)
    paragraphs = [(kind, line) for kind, line in lines if line]
    paragraphs = _source_tail(paragraphs, art)
    return _finish(art, paragraphs)


def jsonl_text(text: str) -> str:
    """Text that already comes as a JSONL field: only normalized (no re-wrapping, nothing removed)."""
    text = normalize_text(text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# ---------------------------------------------------------------- 4. documents

@dataclass
class Doc:
    """A document before duplicate detection: its text and the meta known so far."""

    text: str
    meta: dict[str, Any]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _meta(source: str, raw: bytes, art: Article, fmt: str, encoding: str, extra: dict | None = None) -> dict:
    meta = {"source_file": source, "raw_sha256": sha256(raw), "text_sha256": sha256(art.text.encode("utf-8")),
            "title": art.title, "url": art.url, "outlet": art.outlet, "date": art.date,
            "format": fmt, "encoding": encoding}
    meta.update(art.extra)
    meta.update(extra or {})
    return meta


def read_file(where: str, path: Path, warnings: list[str]) -> Iterator[Doc | Problem]:
    """Yield the documents of one input file, or a :class:`Problem` for each bad part of it."""
    fmt = FORMATS.get(path.suffix.lower(), "text")
    if fmt == "jsonl":
        yield from read_jsonl_records(where, path)
        return
    try:
        raw = path.read_bytes()
    except OSError as e:
        yield Problem.at(where, None, f"cannot read: {e.strerror}")
        return
    try:
        text, encoding, warning = decode(raw, where, declared_charset(raw) if fmt == "html" else None)
    except Problem as p:
        yield p
        return
    if warning:
        warnings.append(warning)
    if fmt == "text" and re.match(r"\s*<(?:!doctype html|html)\b", text, re.I):
        fmt = "html"
    if fmt == "html":
        art = html_to_text(text)
    else:
        art = clean_text(text, markdown=True if fmt == "markdown" else None)
        fmt = "markdown" if art.markdown else "text"
    if not art.text:
        yield Problem.at(where, None, "no article text left after cleaning")
        return
    yield Doc(art.text, _meta(where, raw, art, fmt, encoding))


def read_jsonl_records(where: str, path: Path) -> Iterator[Doc | Problem]:
    """Documents from JSONL records that carry ``text``, streamed line by line; the records' other
    fields are kept in meta (title, url, outlet, date in their places)."""
    try:
        fh = open(path, "rb")
    except OSError as e:
        yield Problem.at(where, None, f"cannot read: {e.strerror}")
        return
    with fh:
        yield from _jsonl_records(where, fh)


def _jsonl_records(where: str, lines: Iterable[bytes]) -> Iterator[Doc | Problem]:
    seen = False
    for lineno, line in enumerate(lines, 1):
        if lineno == 1 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        line = line.rstrip(b"\r\n")
        if not line.strip():
            continue
        seen = True
        try:
            record = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError as e:
            yield Problem.at(where, lineno, f"not UTF-8 (byte 0x{line[e.start]:02x} at column {e.start + 1})")
            continue
        except json.JSONDecodeError as e:
            yield Problem.at(where, lineno, f"not valid JSON ({e.msg}, column {e.colno})")
            continue
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            yield Problem.at(where, lineno, 'not a record with a "text" string')
            continue
        text = jsonl_text(record["text"])
        if not text:
            yield Problem.at(where, lineno, '"text" is empty')
            continue
        given = record.get("meta") if isinstance(record.get("meta"), dict) else {}
        given = {**{k: v for k, v in record.items() if k not in ("text", "meta", "id")}, **given}
        known = {key: given.pop(key, None) for key in ("title", "url", "outlet", "date")}
        art = Article(text=text, **{k: v if v is None or isinstance(v, str) else str(v) for k, v in known.items()})
        extra = {"source_line": lineno}
        if "id" in record:
            extra["source_id"] = record["id"]
        for key in ("source_file", "raw_sha256", "text_sha256", "duplicate_of", "near_duplicates",
                    "format", "encoding"):
            given.pop(key, None)
        yield Doc(text, _meta(where, line, art, "jsonl", "utf-8", {**given, **extra}))
    if not seen:
        yield Problem.at(where, None, "empty file")


# ---------------------------------------------------------------- 5. near duplicates

@functools.lru_cache(maxsize=None)
def _punctuation_to_space() -> dict[int, str]:
    """str.translate table: every punctuation mark, symbol and space of the BMP becomes a space
    (5x faster than re.findall(r"\\w+") for splitting words; the same words on news text)."""
    return {c: " " for c in range(0x10000) if unicodedata.category(chr(c))[0] in "PS" or chr(c) == "_"}


_TOKEN_HASHES: dict[str, int] = {}


def _token_hashes(tokens: list[str]) -> list[int]:
    """Stable 32-bit hashes of words (crc32: the same in every process, unlike hash()), memoized."""
    hashes = list(map(_TOKEN_HASHES.get, tokens))
    if None in hashes:
        if len(_TOKEN_HASHES) > 1 << 20:
            _TOKEN_HASHES.clear()
        for i, (token, h) in enumerate(zip(tokens, hashes)):
            if h is None:
                hashes[i] = _TOKEN_HASHES[token] = zlib.crc32(token.encode("utf-8"))
    return hashes


def shingles(text: str, k: int = SHINGLE_WORDS):
    """Sorted unique 64-bit hashes of the word k-shingles of a text (lower case, punctuation and
    symbols ignored)."""
    import numpy as np

    tokens = text.lower().translate(_punctuation_to_space()).split()
    if not tokens:
        return np.zeros(0, dtype=np.uint64)
    h = np.array(_token_hashes(tokens), dtype=np.uint64)
    if len(tokens) < k:
        k = len(tokens)
    n = len(tokens) - k + 1
    out = h[:n].copy()
    prime = np.uint64(1099511628211)
    with np.errstate(over="ignore"):
        for j in range(1, k):
            out = out * prime + h[j:j + n]
    out.sort()
    return out[np.concatenate(([True], out[1:] != out[:-1]))]


def jaccard(a, b) -> float:
    """Exact Jaccard similarity of two sorted unique hash arrays."""
    import numpy as np

    if len(a) == 0 and len(b) == 0:
        return 1.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


def lsh_params(threshold: float, num_perm: int = NUM_PERM, recall: float = 0.995) -> tuple[int, int]:
    """LSH bands and rows: the most selective split that still proposes a pair of similarity
    ``threshold`` with probability >= ``recall`` (higher similarities even more surely)."""
    best = (num_perm, 1)
    for rows in range(1, num_perm + 1):
        bands = num_perm // rows
        if 1 - (1 - threshold ** rows) ** bands >= recall:
            best = (bands, rows)
    return best


@functools.lru_cache(maxsize=None)
def _minhash(num_perm: int):
    """One reusable datasketch MinHash per process (cleared for every document)."""
    from datasketch import MinHash

    return MinHash(num_perm=num_perm, seed=1, scheme="affine32", hashfunc=int)


def signature(text: str, k: int = SHINGLE_WORDS, num_perm: int = NUM_PERM):
    """The MinHash signature (uint32 hash values) of a text's word k-shingles."""
    import numpy as np

    sh = shingles(text, k)
    m = _minhash(num_perm)
    m.clear()
    if len(sh):
        m.update_batch(((sh >> np.uint64(32)) ^ (sh & np.uint64(0xFFFFFFFF))).astype(np.uint32).tolist())
    return m.hashvalues.copy()


class NearDuplicateIndex:
    """Find near duplicates as documents stream in: MinHash LSH proposes candidates among the
    earlier documents, exact Jaccard on word shingles decides. Keeps only the LSH band hashes;
    texts of candidates are fetched back through ``fetch`` (from the spool file), not held."""

    def __init__(self, threshold: float, fetch: Callable[[str], str], *, num_perm: int = NUM_PERM,
                 k: int = SHINGLE_WORDS) -> None:
        from datasketch import MinHashLSH

        self.threshold, self.fetch, self.k, self.num_perm = threshold, fetch, k, num_perm
        self._lsh = MinHashLSH(num_perm=num_perm, params=lsh_params(threshold, num_perm))

    def add(self, key: str, sig=None) -> list[tuple[str, float]]:
        """Index a document, already fetchable by ``key`` (``sig``: its :func:`signature` if computed
        already); return its near duplicates among the earlier ones as (key, similarity), rounded to
        4 places. Texts are fetched only for the candidates the LSH proposes."""
        from datasketch import LeanMinHash

        if sig is None:
            sig = signature(self.fetch(key), self.k, self.num_perm)
        sketch = LeanMinHash(seed=1, hashvalues=sig, scheme="affine32")
        found = []
        candidates = sorted(self._lsh.query(sketch))
        if candidates:
            sh = shingles(self.fetch(key), self.k)
            for other in candidates:
                sim = jaccard(sh, shingles(self.fetch(other), self.k))
                if sim >= self.threshold:
                    found.append((other, round(sim, 4)))
        self._lsh.insert(key, sketch, check_duplication=False)
        return found


# ---------------------------------------------------------------- 6. the whole job

_NO_NEAR = b'"near_duplicates":[]'


class _Spool:
    """Records written to a temporary file (beside the output) and read back by offset."""

    def __init__(self, folder: Path) -> None:
        while not folder.is_dir() and folder != folder.parent:  # create nothing before the output
            folder = folder.parent
        self.fh = tempfile.TemporaryFile(mode="w+b", dir=folder, prefix=".ingest-", suffix=".spool")
        self.offsets: dict[str, int] = {}
        self.size = 0  # kept here: tell() on a buffered file costs a system call

    def append(self, key: str, line: bytes) -> None:
        self.offsets[key] = self.size
        self.fh.write(line)
        self.size += len(line)

    def record(self, key: str) -> dict:
        self.fh.seek(self.offsets[key])
        record = json.loads(self.fh.readline())
        self.fh.seek(self.size)
        return record

    def text(self, key: str) -> str:
        return self.record(key)["text"]

    def lines(self) -> Iterator[tuple[str, bytes]]:
        """(id, JSON line) in the order written."""
        self.fh.flush()
        self.fh.seek(0)
        for key, line in zip(self.offsets, self.fh):
            yield key, line

    def close(self) -> None:
        self.fh.close()


Prepared = tuple[str, bytes, Any]  # (text_sha256, JSON line of the record as a first copy, signature or None)


def record_line(doc: Doc) -> Prepared:
    """The output line of a document as if it were the first of its text (id from the text hash,
    duplicate_of null, near_duplicates empty); :func:`ingest` patches the rare lines that are not."""
    meta = dict(doc.meta)
    ordered = {k: meta.pop(k) for k in ("source_file", "raw_sha256", "text_sha256", "title", "url", "outlet", "date")}
    ordered.update({"duplicate_of": None, "near_duplicates": []})
    ordered.update(meta)
    digest = ordered["text_sha256"]
    return digest, (dumps({"id": digest[:16], "text": doc.text, "meta": ordered}) + "\n").encode("utf-8"), None


def _prepare(item: tuple[str, Path]) -> tuple[list[Prepared | str] | None, list[str]]:
    """Read one file into record lines with their signatures, problems as strings (runs in a worker)."""
    where, path = item
    warnings: list[str] = []
    out: list[Prepared | str] = []
    if FORMATS.get(path.suffix.lower()) == "jsonl":
        return None, warnings  # JSONL files are streamed by the main process, not held in a list
    for doc in read_file(where, path, warnings):
        if isinstance(doc, Problem):
            out.append(str(doc))
        else:
            digest, line, _ = record_line(doc)
            out.append((digest, line, signature(doc.text)))
    return out, warnings


def _prepared(files: list[tuple[str, Path]], jobs: int) -> Iterator[tuple[list, list[str]]]:
    """:func:`_prepare` over the files, in order; in ``jobs`` forked processes when jobs > 1."""
    if jobs <= 1:
        yield from map(_prepare, files)
        return
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        yield from pool.imap(_prepare, files, chunksize=32)


def auto_jobs(n_files: int) -> int:
    """Worker processes worth starting: 2 (at most the CPUs) for 500+ files where fork exists, else 1."""
    import multiprocessing

    if n_files < 500 or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return max(1, min(2, os.cpu_count() or 1))


def ingest(paths: Iterable[str | Path], out: str | Path, *, skip_invalid: bool = False,
           near_threshold: float = DEFAULT_NEAR_THRESHOLD, on_progress: Progress | None = None,
           jobs: int = 0) -> dict:
    """Ingest files and folders into a documents JSONL file (see the module docstring).

    Returns plain data: ``written`` (bool), ``documents``, ``files``, ``problems`` and ``warnings``
    (lines to show), ``exact_duplicates`` and ``near_duplicates``. With problems and no
    ``skip_invalid`` nothing is written. Raises InputError only for bad options or no input at all.
    ``jobs``: processes that read and sketch files (0: :func:`auto_jobs`); the output is the same.
    """
    if not 0.0 < near_threshold <= 1.0:
        raise InputError(f"--near-threshold must be in (0, 1], got {near_threshold}")
    out = Path(out)
    files, problems, warnings = collect_files(paths, exclude=[out])
    if not files and not problems:
        raise InputError("no input files found (expected .txt, .md, .html or .jsonl files)")
    try:
        spool = _Spool(out.parent)
    except OSError as err:
        raise InputError(f"{out}: cannot write the output there ({err.strerror})",
                         hint="check the path and its permissions") from None
    prepared = _prepared(files, jobs or auto_jobs(len(files)))
    try:
        index = NearDuplicateIndex(near_threshold, spool.text)
        first_by_hash: dict[str, int] = {}  # text hash -> copies seen
        exact: list[dict] = []
        near: list[dict] = []
        for done, ((where, path), (items, file_warnings)) in enumerate(zip(files, prepared), 1):
            warnings.extend(file_warnings)
            if items is None:  # JSONL: streamed here, signatures computed by the index
                items = (str(d) if isinstance(d, Problem) else record_line(d) for d in read_jsonl_records(where, path))
            for item in items:
                if isinstance(item, str):
                    problems.append(item)
                    continue
                digest, line, sig = item
                key = digest[:16]
                seen = first_by_hash.get(digest, 0)
                first_by_hash[digest] = seen + 1
                if seen:  # the n-th exact copy: id <id>-n, duplicate_of <id>
                    record = json.loads(line)
                    record["id"] = f"{key}-{seen + 1}"
                    record["meta"]["duplicate_of"] = key
                    spool.append(record["id"], (dumps(record) + "\n").encode("utf-8"))
                    exact.append({"id": record["id"], "duplicate_of": key, "source_file": where})
                    continue
                spool.append(key, line)
                for other, sim in index.add(key, sig):
                    near.append({"a": other, "a_file": spool.record(other)["meta"]["source_file"],
                                 "b": key, "b_file": where, "similarity": sim})
            if on_progress:
                on_progress(done, len(files), where)
        n_docs = len(spool.offsets)
        result = {"out": shown_path(out), "written": False, "documents": n_docs, "files": len(files),
                  "problems": problems, "warnings": warnings, "exact_duplicates": exact,
                  "near_duplicates": near, "near_threshold": near_threshold}
        if (problems and not skip_invalid) or n_docs == 0:
            return result
        links: dict[str, list[dict]] = {}
        for pair in near:
            links.setdefault(pair["a"], []).append({"id": pair["b"], "similarity": pair["similarity"]})
            links.setdefault(pair["b"], []).append({"id": pair["a"], "similarity": pair["similarity"]})
        with atomic_open(out, "wb") as fh:
            for key, line in spool.lines():
                if key in links:
                    near_dups = sorted(links[key], key=lambda x: (-x["similarity"], x["id"]))
                    # the first occurrence is ours: it precedes any key of the source's own meta
                    line = line.replace(_NO_NEAR, f'"near_duplicates":{dumps(near_dups)}'.encode("utf-8"), 1)
                fh.write(line)
        result["written"] = True
        return result
    finally:
        prepared.close()  # stops the worker processes, if any, even on an error or Ctrl-C
        spool.close()
