"""English and Simplified Chinese: pages, the switcher, the catalogs, the socket."""

import gettext
import json
import re
import shutil
import subprocess

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model

from chat.models import Conversation, Message
from chat.profiles import profile_for
from chat.replies.turns import title_from
from tests.servers import BASE_DIR
from tests.services import unavailable

LOCALE = BASE_DIR / "locale"
SCRIPTS = BASE_DIR / "static" / "chat" / "js"
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9,en;q=0.5"}


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


# -- pages -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "english", "chinese"),
    [
        ("/accounts/login/", "Welcome back", "欢迎回来"),
        ("/accounts/signup/", "Create your account", "创建你的账号"),
    ],
)
def test_the_login_and_signup_pages_follow_accept_language(
    client, db, url, english, chinese
):
    english_page = client.get(url).content.decode()
    chinese_page = client.get(url, **ZH).content.decode()

    assert english in english_page and chinese not in english_page
    assert chinese in chinese_page and english not in chinese_page
    assert '<html lang="zh-hans"' in chinese_page


def test_the_chat_pages_follow_accept_language(alice_client, conversation):
    # The page shows the branch that ends at the conversation's current leaf.
    conversation.current_leaf = Message.objects.create(
        conversation=conversation, role="assistant", status="stopped", content="x"
    )
    conversation.save(update_fields=["current_leaf"])
    home = alice_client.get("/", **ZH).content.decode()
    chat = alice_client.get(conversation.get_absolute_url(), **ZH).content.decode()

    assert "今天我能帮你做什么？" in home and "How can I help today?" not in home
    assert "已停止" in chat  # the state's badge
    assert "Stopped<" not in chat


def test_the_admin_review_pages_speak_chinese(client, alice, conversation):
    reviewer = get_user_model().objects.create_superuser("root", password="pw-root")
    client.force_login(reviewer)
    base = "/admin/chat/conversation/"

    transcript = client.get(f"{base}{conversation.pk}/change/", **ZH).content.decode()
    usage = client.get(f"{base}usage/", **ZH).content.decode()
    changelist = client.get(base, **ZH).content.decode()

    assert "对话记录" in transcript and "标记对话" in transcript
    assert "每位用户合计" in usage
    assert "词元用量" in changelist and "标记队列" in changelist


def test_a_stored_error_is_shown_in_the_readers_language(alice_client, conversation):
    from chat.replies.errors import INTERRUPTED_ERROR

    conversation.current_leaf = Message.objects.create(
        conversation=conversation,
        role="assistant",
        status="interrupted",
        content="part",
        error=INTERRUPTED_ERROR,
    )
    conversation.save(update_fields=["current_leaf"])
    page = alice_client.get(conversation.get_absolute_url(), **ZH).content.decode()

    assert "运行这个回答的服务器停止了" in page


def test_the_page_script_gets_its_catalog_in_the_pages_language(alice_client, db):
    def catalog(**headers):
        page = alice_client.get("/", **headers).content.decode()
        found = re.search(
            r'<script id="page-catalog" type="application/json">(.*?)</script>',
            page,
            re.S,
        )
        return json.loads(found[1])

    chinese = catalog(**ZH)

    assert chinese["Waiting in line…"] == "排队等待中…"
    assert chinese["Answer complete"] == "回答完成"
    # Texts stored on answers, which the script shows when a reply ends.
    assert chinese["The answer was interrupted."] == "回答被中断了。"
    assert "Waiting in line…" not in catalog()


# -- the switcher and the profile -------------------------------------------------


def test_the_switcher_sets_the_cookie_and_the_profile(alice_client, alice):
    response = alice_client.post("/language/", {"language": "zh-hans", "next": "/"})

    assert response.status_code == 302 and response["Location"] == "/"
    assert response.cookies["django_language"].value == "zh-hans"
    assert profile_for(alice).language == "zh-hans"
    page = alice_client.get("/").content.decode()  # no Accept-Language at all
    assert "今天我能帮你做什么？" in page


def test_the_switcher_works_logged_out_with_the_cookie_alone(client, db):
    client.post("/language/", {"language": "zh-hans", "next": "/accounts/login/"})

    assert "欢迎回来" in client.get("/accounts/login/").content.decode()
    client.post("/language/", {"language": "en", "next": "/accounts/login/"})
    assert "Welcome back" in client.get("/accounts/login/", **ZH).content.decode()


def test_the_profile_language_follows_the_person_to_a_new_browser(client, alice):
    profile = profile_for(alice)
    profile.language = "zh-hans"
    profile.save()
    client.force_login(alice)

    response = client.get("/", HTTP_ACCEPT_LANGUAGE="en")

    assert "今天我能帮你做什么？" in response.content.decode()
    assert response.cookies["django_language"].value == "zh-hans"


def test_an_unknown_language_changes_nothing(alice_client, alice):
    alice_client.post("/language/", {"language": "xx", "next": "/"})

    assert profile_for(alice).language == ""


# -- the catalogs -------------------------------------------------------------


def po_entries(path):
    """(flags, msgid, msgstrs) of each entry of a .po file, the header left out."""
    entries = []
    for block in path.read_text().split("\n\n"):
        lines = [line for line in block.splitlines() if line.strip()]
        flags = " ".join(line for line in lines if line.startswith("#,"))
        fields: dict[str, str] = {}
        key = None
        for line in lines:
            if line.startswith("#"):
                continue
            match = re.match(
                r"^(msgid|msgid_plural|msgstr(?:\[\d+\])?) (\".*\")$", line
            )
            if match:
                key = match[1]
                fields[key] = json.loads(match[2])
            elif line.startswith('"') and key:
                fields[key] += json.loads(line)
        if fields.get("msgid"):
            msgstrs = [v for k, v in fields.items() if k.startswith("msgstr")]
            entries.append((flags, fields["msgid"], msgstrs))
    return entries


CATALOGS = sorted(LOCALE.glob("*/LC_MESSAGES/*.po"))


@pytest.mark.parametrize("po", CATALOGS, ids=lambda p: f"{p.parts[-3]}/{p.name}")
def test_every_catalog_entry_is_translated_and_none_is_fuzzy(po):
    entries = po_entries(po)

    assert len(entries) > 40
    assert [msgid for flags, msgid, _ in entries if "fuzzy" in flags] == []
    assert [msgid for _, msgid, strs in entries if not all(strs)] == []


def test_the_chinese_catalogs_exist_for_pages_and_the_page_script():
    names = {f"{p.parts[-3]}/{p.name}" for p in CATALOGS}

    assert {"zh_Hans/django.po", "zh_Hans/djangojs.po"} <= names


@pytest.mark.parametrize("po", CATALOGS, ids=lambda p: f"{p.parts[-3]}/{p.name}")
def test_the_committed_mo_file_is_compiled_from_the_po_file(po, tmp_path):
    """The .mo files are committed (a fresh clone needs no gettext); keep them fresh."""
    if not shutil.which("msgfmt"):
        unavailable("GNU msgfmt is not installed (apt-get install gettext)")
    fresh = tmp_path / "fresh.mo"
    subprocess.run(["msgfmt", "--check", "-o", fresh, po], check=True)

    def catalog(path):
        with path.open("rb") as f:
            return gettext.GNUTranslations(f)._catalog

    assert catalog(po.with_suffix(".mo")) == catalog(fresh), (
        f"{po.with_suffix('.mo')} is stale: run manage.py compilemessages"
    )


# Literals in the page script that are not words for a person: DOM and CSS names,
# selectors, event and key names, headers, attribute values.
NOT_WORDS = {
    "Enter",
    "Escape",
    "X-CSRFToken",
    "Content-Type",
    "Retry-After",
    "button, a[href]",
    "(max-width: 859px)",
    "noopener noreferrer nofollow",
    "action-btn code-copy",
    "Node.TEXT_NODE",
    "ArrowLeft",
    "ArrowRight",
    "btn btn-small",
    # An Error thrown and caught in branches.js, whose banner says it in words.
    "no thread in the page",
    "X-Fragment",
    "AbortError",
    "ArrowDown",
    "ArrowUp",
}


def string_literals(source: str):
    """(literal, the code just before it) for each string literal, comments skipped."""
    i, n = 0, len(source)
    while i < n:
        ch = source[i]
        if source.startswith("//", i):
            i = source.find("\n", i)
            i = n if i < 0 else i
        elif source.startswith("/*", i):
            i = source.index("*/", i) + 2
        elif ch in "\"'`":
            start = i
            i += 1
            while source[i] != ch:
                i += 2 if source[i] == "\\" else 1
            yield source[start + 1 : i], source[max(0, start - 40) : start]
            i += 1
        else:
            i += 1


def looks_like_words(text: str) -> bool:
    return bool(
        re.search(r"[A-Za-z]{2}", text)
        and (
            re.search(r"\b[A-Z][a-z]+", text) or re.search(r"[A-Za-z]+ [A-Za-z]", text)
        )
    )


def test_every_word_of_the_page_script_goes_through_the_catalog():
    untranslated = []
    for path in sorted(SCRIPTS.glob("*.js")):
        for literal, before in string_literals(path.read_text()):
            if re.search(r"\bgettext\(\s*$", before) or literal in NOT_WORDS:
                continue
            if "import" in before.rsplit("\n", 1)[-1]:
                continue
            if looks_like_words(literal):
                untranslated.append(f"{path.name}: {literal!r}")

    assert untranslated == []


def test_the_scan_catches_a_sentence_outside_the_catalog():
    source = 'showBanner("Not sent."); el.className = "code-header"; gettext("Fine")'
    found = [
        s
        for s, before in string_literals(source)
        if looks_like_words(s) and not re.search(r"\bgettext\(\s*$", before)
    ]

    assert found == ["Not sent."]


# -- text --------------------------------------------------------------------

FAMILY = "👨\u200d👩\u200d👧\u200d👦"  # one grapheme, seven code points
FLAG = "🇨🇳"  # one grapheme, two regional indicators
E_ACUTE = "e\u0301"  # e + combining acute accent


@pytest.mark.parametrize("grapheme", [FAMILY, FLAG, E_ACUTE, "中", "👍🏽"])
def test_titles_are_cut_between_grapheme_clusters(grapheme):
    title = title_from("a" * 59 + grapheme * 3)

    assert title == "a" * 59 + grapheme + "…"


def test_a_title_of_long_graphemes_fits_its_column():
    title = title_from(FAMILY * 60)
    limit = Conversation._meta.get_field("title").max_length

    assert len(title) <= limit
    assert title == FAMILY * ((limit - 1) // len(FAMILY)) + "…"


def test_a_chinese_title_keeps_sixty_characters():
    content = "请帮我写一首关于秋天的诗" * 10

    assert title_from(content) == content[:60] + "…"


# -- the socket ---------------------------------------------------------------

pytestmark_socket = pytest.mark.django_db(transaction=True)


@pytestmark_socket
async def test_error_frames_speak_the_language_of_the_cookie(
    alice, conversation, connect
):
    socket = await connect(
        alice, conversation.pk, cookies={"django_language": "zh-hans"}
    )

    await socket.send(type="send", content="   ")
    [error] = await socket.receive_until("error")

    assert error["code"] == "empty"
    assert error["message"] == "请先输入消息。"


@pytestmark_socket
async def test_error_frames_speak_the_language_of_the_profile(
    alice, conversation, connect
):
    @sync_to_async
    def choose_chinese():
        profile = profile_for(alice)
        profile.language = "zh-hans"
        profile.save()

    await choose_chinese()
    socket = await connect(alice, conversation.pk, accept_language="en")

    await socket.send(type="stop", message_id=10**9)
    [error] = await socket.receive_until("error")

    assert error["message"] == "这个对话中没有这个回答。"


@pytestmark_socket
async def test_error_frames_follow_accept_language_and_default_to_english(
    alice, conversation, connect
):
    chinese = await connect(alice, conversation.pk, accept_language="zh-CN,zh")
    english = await connect(alice, conversation.pk)

    await chinese.send(type="nonsense")
    await english.send(type="nonsense")

    assert (await chinese.receive_until("error"))[-1]["message"].startswith("未知")
    assert (await english.receive_until("error"))[-1]["message"].startswith("Unknown")


@pytestmark_socket
async def test_the_model_is_asked_to_answer_in_the_persons_language(
    alice, conversation, connect, openai_upstream, settings
):
    settings.CHAT_ANSWER_IN_USER_LANGUAGE = True
    settings.CHAT_SYSTEM_PROMPT = "Be brief."
    socket = await connect(alice, conversation.pk, accept_language="zh-hans")

    await socket.send(type="send", content="你好")
    await socket.receive_until("reply.done")

    [request] = openai_upstream.requests
    assert request["messages"][0] == {
        "role": "system",
        "content": "Be brief. Answer in Simplified Chinese, "
        "the language the user reads this site in.",
    }


@pytestmark_socket
async def test_without_the_setting_the_system_prompt_names_no_language(
    alice, conversation, connect, openai_upstream, settings
):
    socket = await connect(alice, conversation.pk, accept_language="zh-hans")

    await socket.send(type="send", content="你好")
    await socket.receive_until("reply.done")

    [request] = openai_upstream.requests
    assert all(m["role"] != "system" for m in request["messages"])


CJK_EMOJI_RTL = [
    "你好",
    "！这是",
    "一段中文",
    "😀👨\u200d👩\u200d👧",
    "🇨🇳 日本語の",
    "テキスト、한국어 ",
    "텍스트 and שלום עולם ",
    "مرحبا e\u0301.",
]


@pytestmark_socket
async def test_chinese_emoji_and_rtl_text_survive_stream_storage_render_and_export(
    alice, conversation, connect, openai_upstream
):
    from tests.conftest import text_of

    sent = "".join(CJK_EMOJI_RTL)
    openai_upstream.script(tokens=CJK_EMOJI_RTL)
    socket = await connect(alice, conversation.pk)

    await socket.send(type="send", content="用中文回答 😀")
    events = await socket.receive_until("reply.done")

    done = events[-1]
    message = await Message.objects.aget(pk=done["message_id"])
    assert text_of(events, message.pk) == sent
    assert message.content == sent
    assert f"<p>{sent}</p>" in message.html
    exports = await sync_to_async(export_both)(conversation.pk)
    assert f"\n{sent}\n" in exports["markdown"]
    [line] = exports["jsonl"].splitlines()
    assert [m["content"] for m in json.loads(line)["messages"]][-1] == sent
    assert await sync_to_async(found_by_admin_search)("一段中文") == [conversation.pk]


def export_both(conversation_id):
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root", password="x"))
    base = f"/admin/chat/conversation/{conversation_id}/export"
    return {
        fmt: client.get(f"{base}/{fmt}/").content.decode()
        for fmt in ("markdown", "jsonl")
    }


def found_by_admin_search(words):
    from chat.review.queries import search_conversations

    return [c.pk for c in search_conversations(Conversation.objects.all(), text=words)]
