"""Every setting read from the environment is documented where operators look."""

import re

from tests.servers import BASE_DIR

SETTINGS = (BASE_DIR / "chatsite" / "settings.py").read_text()
NAMES = sorted(
    set(re.findall(r'\benv(?:bool|int|float|list)?\(\s*"([A-Z][A-Z0-9_]+)"', SETTINGS))
)


def test_the_settings_read_the_environment():
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "CHAT_PROVIDER"} <= set(NAMES)


def test_env_example_lists_every_setting():
    example = (BASE_DIR / ".env.example").read_text()
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, re.MULTILINE))

    assert [name for name in NAMES if name not in listed] == []


def test_the_readme_table_lists_every_setting():
    readme = (BASE_DIR / "README.md").read_text()

    rows = re.findall(
        r"^\| `([A-Z0-9_]+)`(?:, `([A-Z0-9_]+)`)? \|", readme, re.MULTILINE
    )
    documented = {name for row in rows for name in row if name}

    assert [name for name in NAMES if name not in documented] == []
