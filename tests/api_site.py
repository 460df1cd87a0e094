"""A server process of the site for the API tests: its own SQLite database,
people and their personal tokens, made through manage.py."""

import json
import os
import uuid

from tests.servers import SiteServer, manage, site_env

# Run in the server's database: people, tokens, a conversation of Alice's.
SETUP = """
import json
from django.contrib.auth import get_user_model
from chat.api.tokens import create_token
from chat.models import Conversation, Profile
User = get_user_model()
out = {}
for name in ("alice", "bob", "slow", "quiet"):
    user = User.objects.create_user(name, password="a-long-api-password-7")
    out[name] = create_token(user, name="test", store_calls=name != "quiet")[1]
Profile.objects.create(user=User.objects.get(username="slow"), messages_per_minute=1)
alice = User.objects.get(username="alice")
out["alice_conversation"] = Conversation.objects.create(user=alice, title="Mine").pk
print(json.dumps(out))
"""


class ApiSite:
    def __init__(self, server: SiteServer, env: dict, made: dict):
        self.server = server
        self.env = env
        self.tokens = {name: made[name] for name in ("alice", "bob", "slow", "quiet")}
        self.alice_conversation = made["alice_conversation"]

    @property
    def url(self) -> str:
        return self.server.url

    def shell(self, code: str) -> str:
        """Run Python in the server's database (to check what it stored)."""
        return manage(self.env, "shell", "-c", code)

    def query(self, code: str):
        """The JSON a shell snippet prints as its last line."""
        return json.loads(self.shell(code).strip().splitlines()[-1])


def start_api_site(upstream, tmp_path) -> ApiSite:
    env = site_env(
        upstream_url=upstream.base_url,
        SECRET_KEY="api-tests-secret-key-long-enough-0123456789",
        DATABASE_URL=f"sqlite:///{tmp_path / 'site.sqlite3'}",
        CHAT_REQUEST_TIMEOUT_S=5,
        CHAT_CONCURRENT_STREAMS=0,
        CHAT_MODERATION="openai",
        CHAT_MODERATION_INTERVAL_S=0.2,
    )
    if os.environ.get("REDIS_URL"):
        # The Redis layer and cache, under keys of this run's own.
        prefix = f"apitests{uuid.uuid4().hex[:8]}"
        env.update(
            REDIS_URL=os.environ["REDIS_URL"],
            CHANNEL_LAYER_PREFIX=prefix,
            CACHE_KEY_PREFIX=prefix,
        )
        if os.environ.get("CHANNEL_LAYER_BACKEND"):
            env["CHANNEL_LAYER_BACKEND"] = os.environ["CHANNEL_LAYER_BACKEND"]
    manage(env, "migrate", "--no-input")
    made = json.loads(manage(env, "shell", "-c", SETUP).strip().splitlines()[-1])
    server = SiteServer("api", env, tmp_path)
    server.start()
    server.wait_healthy()
    return ApiSite(server, env, made)
