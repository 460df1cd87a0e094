"""Test environment, loaded as a plugin (-p) before pytest-django sets Django up.

Production settings, minus what needs HTTPS or collectstatic.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-secret-key")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("SECURE_COOKIES", "false")
os.environ.setdefault("STATIC_MANIFEST", "false")
os.environ.setdefault("CHAT_PROVIDER", "openai")
os.environ.setdefault("OPENAI_API_KEY", "test-key")
