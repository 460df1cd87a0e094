"""Every variable read from the environment is documented where operators look."""

import re

from tests.servers import BASE_DIR

SETTINGS = (BASE_DIR / "chatsite" / "settings.py").read_text()
# The server, and prometheus_client's variable (read where the metrics live).
SERVER = "".join(
    (BASE_DIR / path).read_text() for path in ("chatsite/serve.py", "chat/metrics.py")
)
RUN_SCRIPT = (BASE_DIR / "scripts" / "run").read_text()

SETTINGS_NAMES = set(
    re.findall(r'\benv(?:bool|int|float|list)?\(\s*"([A-Z][A-Z0-9_]+)"', SETTINGS)
)
SERVER_NAMES = set(
    re.findall(
        r'\bos\.(?:environ\.get\(|environ\[|getenv\()\s*"([A-Z][A-Z0-9_]+)"', SERVER
    )
)
# scripts/run reads its variables as ${NAME:-default}.
RUN_SCRIPT_NAMES = set(re.findall(r"\$\{([A-Z][A-Z0-9_]+):-", RUN_SCRIPT))
NAMES = sorted(SETTINGS_NAMES | SERVER_NAMES | RUN_SCRIPT_NAMES)


def test_the_settings_read_the_environment():
    expected = {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "CHAT_PROVIDER"}

    assert expected <= SETTINGS_NAMES


def test_the_server_and_the_run_script_read_the_environment():
    expected = {"HOST", "PORT", "FORWARDED_ALLOW_IPS", "ACCESS_LOG"}
    assert expected | {"PROMETHEUS_MULTIPROC_DIR"} <= SERVER_NAMES
    assert {"HOST", "PORT"} <= RUN_SCRIPT_NAMES


def test_env_example_lists_every_variable():
    example = (BASE_DIR / ".env.example").read_text()
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, re.MULTILINE))

    assert [name for name in NAMES if name not in listed] == []


def test_the_readme_table_lists_every_variable():
    readme = (BASE_DIR / "README.md").read_text()

    rows = re.findall(
        r"^\| `([A-Z0-9_]+)`(?:, `([A-Z0-9_]+)`)? \|", readme, re.MULTILINE
    )
    documented = {name for row in rows for name in row if name}

    assert [name for name in NAMES if name not in documented] == []
