"""Markdown rendering: rich output for honest replies, nothing live for hostile ones."""

import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat.rendering import render_markdown
from tests.hostile_corpus import HOSTILE_CASES, SAMPLE_RICH_MARKDOWN

ALLOWED_TAGS = {
    *("h1", "h2", "h3", "h4", "h5", "h6"),
    *("p", "br", "hr", "blockquote", "pre", "code", "span", "div"),
    *("ul", "ol", "li", "table", "thead", "tbody", "tr", "th", "td"),
    *("em", "strong", "del", "sup", "sub", "a"),
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title", "rel"},
    "div": {"class", "data-language"},
    "span": {"class"},
    "th": {"align"},
    "td": {"align"},
    "ol": {"start"},
}
FORBIDDEN_TAGS = {
    *("script", "iframe", "style", "object", "embed", "form", "input", "button"),
    *("textarea", "meta", "base", "link", "svg", "math", "img", "template"),
    *("details", "summary", "noscript", "body", "html", "frame", "frameset"),
}
LINK_REL = "noopener noreferrer nofollow"
SAFE_SCHEMES = {"http", "https", "mailto"}


class ParsedHtml(HTMLParser):
    """Every element (with its attributes, entities decoded) and all text."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text_parts: list[str] = []
        self.comments: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text_parts.append(data)

    def handle_comment(self, data):
        self.comments.append(data)

    @property
    def text(self) -> str:
        return "".join(self.text_parts)

    @property
    def tags(self) -> set[str]:
        return {tag for tag, _attrs in self.elements}

    def find_all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.elements if name == tag]


def url_scheme(url: str) -> str | None:
    # What a browser would see: it ignores control characters and whitespace
    # inside a scheme, and compares schemes case-insensitively.
    squeezed = re.sub(r"[\x00-\x20\x7f]", "", url).lower()
    match = re.match(r"([a-z][a-z0-9+.-]*):", squeezed)
    return match[1] if match else None


def assert_nothing_live(html: str) -> None:
    parsed = ParsedHtml(html)
    assert "<script" not in html.lower()
    assert not parsed.tags & FORBIDDEN_TAGS
    assert parsed.tags <= ALLOWED_TAGS
    assert not parsed.comments
    for tag, attrs in parsed.elements:
        assert set(attrs) <= ALLOWED_ATTRIBUTES.get(tag, set()), (tag, attrs)
        for name, value in attrs.items():
            assert not re.fullmatch(r"on\w+", name), (tag, name)
            if name in {"href", "src", "action", "formaction", "data", "xlink:href"}:
                assert value is not None
                assert url_scheme(value) in SAFE_SCHEMES, (tag, name, value)
                assert not re.search(r"(?i)(javascript|data|vbscript):", value)
    for attrs in parsed.find_all("a"):
        assert attrs.get("rel") == LINK_REL


def code_text(html: str) -> str:
    """The text of the first code block, as the copy button would copy it."""
    match = re.search(r"<pre>(.*?)</pre>", html, re.DOTALL)
    assert match, html
    return ParsedHtml(match[1]).text


# Honest replies.


def test_it_renders_headings_lists_and_emphasis():
    html = render_markdown("# Title\n\n## Sub\n\n- one\n- **two**\n- *three*\n")
    parsed = ParsedHtml(html)
    assert {"h1", "h2", "ul", "li", "strong", "em"} <= parsed.tags
    assert "<h1>Title</h1>" in html
    assert "<li><strong>two</strong></li>" in html


def test_it_keeps_the_start_number_of_an_ordered_list():
    html = render_markdown("3. three\n4. four\n")
    assert ParsedHtml(html).find_all("ol") == [{"start": "3"}]


def test_it_renders_tables_with_alignment_as_an_attribute_not_a_style():
    html = render_markdown("| a | b | c |\n|:--|:-:|--:|\n| 1 | 2 | 3 |\n")
    parsed = ParsedHtml(html)
    assert {"table", "thead", "tbody", "tr", "th", "td"} <= parsed.tags
    assert [attrs.get("align") for attrs in parsed.find_all("td")] == [
        "left",
        "center",
        "right",
    ]
    assert "style=" not in html


def test_it_highlights_fenced_code_with_classes():
    html = render_markdown("```python\ndef f(x):\n    return x\n```\n")
    assert html.startswith('<div class="codehilite" data-language="python"><pre>')
    assert '<span class="k">def</span>' in html
    assert '<span class="nf">f</span>' in html
    assert html.rstrip().endswith("</code></pre></div>")
    assert code_text(html) == "def f(x):\n    return x\n"


def test_a_code_block_is_a_div_holding_pre_holding_code():
    html = render_markdown("```python\nx = 1\n```\n")
    parsed = ParsedHtml(html)
    assert [tag for tag, _attrs in parsed.elements][:3] == ["div", "pre", "span"]
    assert ("code", {}) in parsed.elements
    assert parsed.elements[0] == (
        "div",
        {"class": "codehilite", "data-language": "python"},
    )


def test_it_leaves_data_language_off_when_the_fence_names_no_language():
    html = render_markdown("```\nplain text\n```\n")
    assert html.startswith('<div class="codehilite"><pre>')
    assert "data-language" not in html
    assert code_text(html) == "plain text\n"


def test_it_does_not_guess_the_language_of_unnamed_code():
    html = render_markdown("```\nimport os\ndef f():\n    pass\n```\n")
    assert 'class="k"' not in html
    assert 'class="kn"' not in html


def test_it_labels_an_unknown_language_without_highlighting_it():
    html = render_markdown("```nosuchlang\nif x then y\n```\n")
    assert 'data-language="nosuchlang"' in html
    assert "<span class=" not in html


def test_it_ignores_pygments_options_smuggled_into_fence_attributes():
    html = render_markdown("```{.python noclasses=true css_class=evil}\nx = 1\n```\n")
    assert html.startswith('<div class="codehilite" data-language="python"><pre>')
    assert "evil" not in html
    assert '<span class="n">x</span>' in html


def test_it_highlights_indented_code_blocks_too():
    html = render_markdown("Example:\n\n    x = 1\n")
    assert '<div class="codehilite"><pre>' in html
    assert code_text(html) == "x = 1\n"


def test_links_get_rel_noopener_noreferrer_nofollow():
    html = render_markdown('[docs](https://example.com/a?b=1&c=2 "The docs")')
    assert ParsedHtml(html).find_all("a") == [
        {
            "href": "https://example.com/a?b=1&c=2",
            "title": "The docs",
            "rel": LINK_REL,
        }
    ]


def test_autolinks_and_mail_links_work():
    parsed = ParsedHtml(render_markdown("<https://example.com> <me@example.com>"))
    assert [attrs["href"] for attrs in parsed.find_all("a")] == [
        "https://example.com",
        "mailto:me@example.com",
    ]


def test_relative_links_lose_their_href():
    parsed = ParsedHtml(render_markdown("[logout](/accounts/logout/) [up](../x)"))
    assert parsed.find_all("a") == [{"rel": LINK_REL}, {"rel": LINK_REL}]
    assert parsed.text == "logout up"


def test_images_become_links_so_nothing_is_fetched_without_a_click():
    html = render_markdown('![a cat](https://example.com/cat.png "Cat")')
    parsed = ParsedHtml(html)
    assert "img" not in parsed.tags
    assert parsed.find_all("a") == [
        {"href": "https://example.com/cat.png", "title": "Cat", "rel": LINK_REL}
    ]
    assert parsed.text == "a cat"


def test_an_image_without_alt_text_shows_its_url():
    parsed = ParsedHtml(render_markdown("![](https://example.com/cat.png)"))
    assert parsed.text == "https://example.com/cat.png"


def test_the_sample_rich_markdown_renders_every_feature():
    html = render_markdown(SAMPLE_RICH_MARKDOWN)
    parsed = ParsedHtml(html)
    assert {"h1", "ul", "li", "table", "th", "td", "code", "a", "strong", "em"} <= (
        parsed.tags
    )
    assert 'data-language="python"' in html
    assert '<span class="k">def</span>' in html
    assert_nothing_live(html)


def test_empty_input_renders_as_empty_output():
    assert render_markdown("") == ""


# Hostile replies.


@pytest.mark.parametrize(
    "markdown_text", [case for _name, case in HOSTILE_CASES], ids=dict(HOSTILE_CASES)
)
def test_hostile_markdown_renders_nothing_live(markdown_text):
    assert_nothing_live(render_markdown(markdown_text))


def test_the_hostile_corpus_has_unique_names():
    names = [name for name, _case in HOSTILE_CASES]
    assert len(names) == len(set(names))


def test_raw_html_in_text_shows_as_escaped_text():
    html = render_markdown("Try <script>alert(1)</script> and <b>bold</b>.")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert ParsedHtml(html).text == "Try <script>alert(1)</script> and <b>bold</b>."


def test_raw_html_blocks_show_as_escaped_text():
    html = render_markdown('<div onclick="alert(1)">\nhi\n</div>')
    assert "&lt;div" in html
    assert ParsedHtml(html).find_all("div") == []


def test_script_in_inline_code_shows_as_escaped_text():
    html = render_markdown("Use `<script>alert(1)</script>` sparingly.")
    assert "<code>&lt;script&gt;alert(1)&lt;/script&gt;</code>" in html


def test_a_code_block_cannot_be_closed_from_inside():
    source = "</code></pre><script>alert(1)</script>\n"
    html = render_markdown(f"```\n{source}```\n")
    assert "&lt;/code&gt;&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert code_text(html) == source
    assert_nothing_live(html)


def test_a_highlighted_code_block_cannot_be_closed_from_inside():
    source = "</code></pre></div><script>alert(1)</script>\n"
    html = render_markdown(f"```html\n{source}```\n")
    assert 'data-language="html"' in html
    assert '<span class="nt">script</span>' in html
    assert code_text(html) == source
    assert_nothing_live(html)


def test_a_javascript_link_keeps_its_text_but_loses_its_href():
    parsed = ParsedHtml(render_markdown("[click me](javascript:alert(1))"))
    assert parsed.find_all("a") == [{"rel": LINK_REL}]
    assert parsed.text == "click me"


# Text fidelity.


def test_emoji_and_non_bmp_characters_pass_through_unchanged():
    text = "Salut 👋🏽 — 𝄞 𠜎𠜱, 中文, עברית, 👨‍👩‍👧 and 🏳️‍🌈"
    html = render_markdown(text)
    assert html == f"<p>{text}</p>"


def test_emoji_in_code_blocks_pass_through_unchanged():
    html = render_markdown('```python\nprint("🐍 𝄞")\n```\n')
    assert code_text(html) == 'print("🐍 𝄞")\n'


def test_rendering_is_deterministic():
    texts = [SAMPLE_RICH_MARKDOWN, *(case for _name, case in HOSTILE_CASES)]
    assert [render_markdown(t) for t in texts] == [render_markdown(t) for t in texts]


def test_the_module_imports_without_django():
    code = (
        "import sys; import chat.rendering as r; "
        "assert r.render_markdown('*x*') == '<p><em>x</em></p>'; "
        "assert not any(m == 'django' or m.startswith('django.') "
        "for m in sys.modules), 'django imported'"
    )
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


# Arbitrary input.

FRAGMENTS = [
    "<script>",
    "</script>",
    "<img src=x onerror=alert(1)>",
    "javascript:",
    "[x](",
    "![x](",
    ")",
    "```",
    "```python\n",
    "`",
    "\n",
    "    ",
    "<",
    ">",
    "&#106;",
    '"',
    "'",
    "|",
    "|---|\n",
    "<a href=",
    "<!--",
    "-->",
    "*",
    "- ",
    "> ",
    "[e]: javascript:alert(1)\n",
    "<svg/onload=alert(1)>",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=8)), max_size=20)
)
def test_any_mix_of_hostile_fragments_renders_nothing_live(parts):
    assert_nothing_live(render_markdown("".join(parts)))


def test_a_link_naming_a_script_scheme_anywhere_is_dropped():
    html = render_markdown(
        "<0@javascript:>, [x](https://example.com/?q=javascript:1), [ok](https://ok.example/)"
    )

    assert not re.search(r'href="[^"]*javascript:', html)
    assert 'href="https://ok.example/"' in html
