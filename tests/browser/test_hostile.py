"""Hostile model output renders in the browser as inert content."""

import pytest

from tests.browser.conftest import REPLIES, ask, expect, new_chat
from tests.hostile_corpus import HOSTILE_CASES

pytestmark = pytest.mark.browser

PER_MESSAGE = 10

# What may be in a reply after the server's allowlist and the page's decoration
# (code headers with a copy button, scrollable table wrappers).
ALLOWED_TAGS = {
    *("h1", "h2", "h3", "h4", "h5", "h6", "p", "br", "hr", "blockquote", "pre"),
    *("code", "span", "div", "ul", "ol", "li", "table", "thead", "tbody", "tr"),
    *("th", "td", "em", "strong", "del", "sup", "sub", "a", "button"),
}

FOUND_IN_REPLIES = """els => {
  const found = {tags: [], handlers: [], urls: []};
  for (const root of els) {
    for (const el of root.querySelectorAll('*')) {
      found.tags.push(el.localName);
      for (const attr of el.attributes) {
        if (attr.name.toLowerCase().startsWith('on')) found.handlers.push(el.outerHTML);
        if (['href', 'src', 'action', 'formaction', 'data'].includes(attr.name)) {
          found.urls.push(el[attr.name] || attr.value);
        }
      }
    }
  }
  return found;
}"""


def test_the_hostile_corpus_renders_with_no_script_run(contexts):
    page = contexts.new_page()
    page.add_init_script("window.__ran = []; window.alert = x => __ran.push(x);")
    new_chat(page)
    for start in range(0, len(HOSTILE_CASES), PER_MESSAGE):
        group = HOSTILE_CASES[start : start + PER_MESSAGE]
        reply = ask(page, "!text " + "\n\n".join(case for _, case in group))
        expect(reply.locator(".message-html")).to_be_visible()

    replies = page.locator(f"{REPLIES} .message-html")
    expect(replies).to_have_count(len(range(0, len(HOSTILE_CASES), PER_MESSAGE)))
    found = replies.evaluate_all(FOUND_IN_REPLIES)
    assert not set(found["tags"]) - ALLOWED_TAGS
    assert not found["handlers"]
    assert all(url.startswith(("http:", "https:", "mailto:")) for url in found["urls"])
    assert (
        page.locator("#messages script, #messages iframe, #messages img").count() == 0
    )
    # The user's own messages show their text as text: not one element inside.
    user_texts = page.locator('article.message[data-role="user"] .message-text')
    assert user_texts.evaluate_all("els => els.every(e => !e.children.length)")
    assert "<script>alert(1)</script>" in user_texts.first.inner_text()

    # Reloaded, the stored HTML is just as inert.
    page.reload()
    expect(page.locator(f"{REPLIES} .message-html")).to_have_count(
        replies.count(), timeout=10_000
    )
    found = page.locator(f"{REPLIES} .message-html").evaluate_all(FOUND_IN_REPLIES)
    assert not set(found["tags"]) - ALLOWED_TAGS
    assert not found["handlers"]

    assert page.evaluate("window.__ran") == []
    assert not contexts.dialogs
    assert not contexts.page_errors
    assert not contexts.console_errors
