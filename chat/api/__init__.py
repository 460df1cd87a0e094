"""The site over HTTP: personal tokens, OpenAI's protocol at /v1, JSON at /api.

`auth` decides who calls (a Bearer token, else the session with CSRF) and speaks
OpenAI's error format; `tokens` makes and checks personal tokens; `completions`
runs /v1/chat/completions through the page's reply path; `conversations` is the
plain-JSON conversations API; `account` is the page where people manage tokens.
"""
