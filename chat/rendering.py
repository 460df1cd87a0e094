"""Markdown from a model's reply to sanitized HTML, rendered once on the server."""

import re
from html import escape, unescape
from xml.etree.ElementTree import Element

import markdown
import nh3
import pygments.lexers
from markdown.extensions import Extension, codehilite
from markdown.extensions.codehilite import CodeHiliteExtension
from markdown.extensions.fenced_code import FencedBlockPreprocessor
from markdown.extensions.fenced_code import FencedCodeExtension as _FencedCode
from markdown.extensions.sane_lists import SaneListExtension
from markdown.extensions.tables import TableExtension
from markdown.treeprocessors import Treeprocessor
from pygments.formatters import HtmlFormatter
from pygments.token import STANDARD_TYPES
from pygments.util import ClassNotFound

__all__ = ["plain_text_html", "render_markdown"]

CODE_BLOCK_CLASS = "codehilite"
_LANG_PREFIX = "language-"

# The fence languages Pygments highlights. Any other name is plain code (with its
# label): Pygments looks an unknown name up through every lexer and every plugin
# entry point installed, on each block, and some lexers are slow on hostile input.
CODE_LANGUAGES = frozenset(
    """
    text plaintext python py python3 pycon pytb javascript js jsx typescript ts tsx
    json jsonc yaml yml toml ini html xml css scss bash sh shell zsh console
    powershell ps1 bat sql c h cpp c++ cc hpp csharp cs java kotlin scala go rust
    rs ruby rb php perl lua r swift objective-c dart haskell elixir erlang clojure
    lisp scheme ocaml fsharp julia matlab dockerfile docker makefile make cmake
    nginx diff patch markdown md latex tex graphql protobuf proto terraform hcl
    """.split()
)


def _allowed_lexer(name: str, **options):
    if (name or "").lower() not in CODE_LANGUAGES:
        raise ClassNotFound(name)  # CodeHilite then uses the plain "text" lexer
    return pygments.lexers.get_lexer_by_name(name, **options)


# CodeHilite asks Pygments for a lexer by whatever name a reply's fence (or its
# ":::lang" line) wrote, through this one module-level name.
codehilite.get_lexer_by_name = _allowed_lexer


class _LabelledHtmlFormatter(HtmlFormatter):
    """Pygments' HTML formatter, with the fence's language on the wrapper div."""

    def __init__(self, lang_str: str = "", **options):
        super().__init__(**options)
        language = lang_str.removeprefix(_LANG_PREFIX)
        # CodeHilite reports "text" for a fence without a language, so "text"
        # cannot tell the two apart; a "text" label would say nothing anyway.
        self.language = "" if language == "text" else language

    def _wrap_div(self, inner):
        # Replaces Pygments' wrapper rather than patching its output: the
        # browser client reads data-language for the label and copy button.
        label = f' data-language="{escape(self.language)}"' if self.language else ""
        yield 0, f'<div class="{escape(self.cssclass)}"{label}>'
        yield from inner
        yield 0, "</div>\n"


class _FencedBlocks(FencedBlockPreprocessor):
    """Fenced code whose `{...}` attributes can name a language and nothing else."""

    def handle_attrs(self, attrs):
        # Otherwise `{.py pygments_formatter=img noclasses=1}` in a reply goes
        # straight into CodeHilite and Pygments: a model could change the
        # formatter, the style or the class, or make rendering raise.
        _id, classes, _config = super().handle_attrs(attrs)
        return "", classes[:1], {}


class _FencedCodeExtension(_FencedCode):
    def extendMarkdown(self, md):
        super().extendMarkdown(md)
        md.preprocessors.register(
            _FencedBlocks(md, self.getConfigs()), "fenced_code_block", 25
        )


class _ImagesAsLinks(Treeprocessor):
    """Turn every image into a plain link to it."""

    # No <img>: the browser fetches an image as soon as it is shown, so a
    # model (steered by a prompt injection) could leak the conversation in an
    # image URL's query string without anyone clicking. A link needs a click.
    def run(self, root: Element) -> None:
        for image in root.iter("img"):
            src = image.get("src", "")
            title = image.get("title")
            text = image.get("alt") or src
            image.attrib.clear()
            image.tag = "a"
            image.set("href", src)
            if title:
                image.set("title", title)
            image.text = text


class _UntrustedInputExtension(Extension):
    """Treat raw HTML as text and images as links."""

    def extendMarkdown(self, md):
        # Raw HTML typed in the reply is escaped, so it shows as the text the
        # model wrote rather than being dropped by the sanitizer below.
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")
        # After the inline processor (20), which is what creates <img>.
        md.treeprocessors.register(_ImagesAsLinks(md), "images_as_links", 15)


def _new_markdown() -> markdown.Markdown:
    # A Markdown instance keeps state between conversions (the HTML stash,
    # references), so each call gets its own: safe across threads and tasks.
    return markdown.Markdown(
        extensions=[
            _FencedCodeExtension(),
            TableExtension(use_align_attribute=True),  # align="", not style=""
            SaneListExtension(),
            CodeHiliteExtension(
                css_class=CODE_BLOCK_CLASS,
                guess_lang=False,  # An unnamed language stays plain text.
                linenums=False,  # Never line numbers, even after a #! line.
                pygments_formatter=_LabelledHtmlFormatter,
                lang_prefix=_LANG_PREFIX,
            ),
            _UntrustedInputExtension(),
        ],
        output_format="html",
    )


# nh3 serializes every attribute in double quotes, escaping only `&`, `"` and
# no-break spaces, so a link's URL is plain text between the quotes here.
_HREF = re.compile(r' href="([^"]*)"')
_SCRIPT_SCHEME = re.compile(r"(?i)(javascript|vbscript|data):")


def _drop_script_schemes(html: str) -> str:
    """Drop a link that names a script scheme anywhere, not only as its scheme.

    `mailto:0@javascript:` is inert in a browser, but a link that only looks
    harmless because of where the scheme sits is not worth the doubt. Done on
    nh3's output, not with its attribute_filter: a Python callback inside nh3,
    which releases the GIL while it holds its own lock, deadlocked the process
    when two threads rendered at once.
    """
    return _HREF.sub(
        lambda m: "" if _SCRIPT_SCHEME.search(unescape(m[1])) else m[0], html
    )


# The output of Markdown is not trusted either: it can still carry links with
# any scheme, and the allowlist is the one place that says what may reach the
# page. Everything not listed is removed (tags keep their text).
_SANITIZER = nh3.Cleaner(
    tags={
        *("h1", "h2", "h3", "h4", "h5", "h6"),
        *("p", "br", "hr", "blockquote", "pre", "code", "span", "div"),
        *("ul", "ol", "li"),
        *("table", "thead", "tbody", "tr", "th", "td"),
        *("em", "strong", "del", "sup", "sub", "a"),
    },
    clean_content_tags={"script", "style"},
    attributes={
        "a": {"href", "title"},
        "div": {"data-language"},
        "ol": {"start"},
    },
    # Classes only as Pygments and CodeHilite write them, so a reply cannot
    # borrow the page's own classes to dress up as part of the interface.
    allowed_classes={
        "div": {CODE_BLOCK_CLASS},
        "span": {name for name in STANDARD_TYPES.values() if name} | {"hll"},
    },
    tag_attribute_values={
        "th": {"align": {"left", "center", "right"}},
        "td": {"align": {"left", "center", "right"}},
    },
    url_schemes={"http", "https", "mailto"},
    # Relative URLs would point into this site, e.g. at its own endpoints.
    url_relative="deny",
    link_rel="noopener noreferrer nofollow",
    strip_comments=True,
)


def render_markdown(text: str) -> str:
    """Render a model's Markdown as HTML that is safe to put in the page as is.

    Unbounded in time: answers go through `chat.render_budget.render_answer`.
    """
    return _drop_script_schemes(_SANITIZER.clean(_new_markdown().convert(text)))


def plain_text_html(text: str, note: str) -> str:
    """An answer that could not be formatted: a short note, then its text as is."""
    return f"<p><em>{escape(note)}</em></p>\n<pre>{escape(text)}</pre>"
