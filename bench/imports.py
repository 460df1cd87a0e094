"""Importing a large ChatGPT export, beside its floor measured in the same run.

    .venv/bin/python -m bench.imports [--conversations 1000] [--turns 3]

Builds a ChatGPT-shaped conversations.json of --conversations conversations, each
--turns questions with an answer (Markdown with a Python code block and a list),
the first answer regenerated once (a sibling), on a scratch SQLite database (or
the PostgreSQL of DATABASE_URL, under a scratch user), and times in one run:

- import: `chat.transfer.store.import_file`, as the page's job and
  `manage.py import_conversations` run it, with the time of each phase;
- floor: reading the same JSON and rendering every answer with
  `render_markdown` in this process, one after another: the renderer's own work
  with nothing around it.
"""

import argparse
import itertools
import json
import os
import time

from bench.history import setup

ANSWER = (
    "Here is one way ({i}):\n\n```python\ndef f(x):\n    return sorted(x)[{i}]\n```\n\n"
    "- it sorts\n- it indexes\n\nSee **sorted** in the docs."
)


def _node(node_id, role, text, parent_id, t, model=""):
    return {
        "id": node_id,
        "parent": parent_id,
        "children": [],
        "message": {
            "author": {"role": role},
            "content": {"content_type": "text", "parts": [text]},
            "create_time": t,
            "metadata": {"model_slug": model},
        },
    }


def export(conversations: int, turns: int) -> bytes:
    document = []
    for c in range(conversations):
        t = 1_700_000_000.0 + c
        mapping = {"root": {"id": "root", "message": None, "parent": None}}
        mapping["root"]["children"] = []
        parent = "root"
        for turn in range(turns):
            nodes = [_node(f"q{turn}", "user", f"Question {turn} of {c}?", parent, t)]
            if turn == 0:
                nodes.append(
                    _node("a0-old", "assistant", ANSWER.format(i=-1), "q0", t, "gpt-4")
                )
            answer = ANSWER.format(i=turn)
            nodes.append(
                _node(f"a{turn}", "assistant", answer, f"q{turn}", t, "gpt-4o")
            )
            for node in nodes:
                mapping[node["id"]] = node
                mapping[node["parent"]]["children"].append(node["id"])
            parent = f"a{turn}"
        document.append(
            {
                "title": f"Chat {c}",
                "create_time": t,
                "update_time": t + 60,
                "mapping": mapping,
                "current_node": parent,
            }
        )
    return json.dumps(document).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--turns", type=int, default=3)
    args = parser.parse_args()
    setup(os.environ.get("DATABASE_URL"))
    from django.contrib.auth import get_user_model

    from chat.rendering import render_markdown
    from chat.transfer.store import import_file

    data = export(args.conversations, args.turns)
    user = get_user_model().objects.create(username=f"bench-import-{time.time_ns()}")

    start = time.perf_counter()
    answers = [
        part
        for conversation in json.loads(data)
        for node in conversation["mapping"].values()
        if node["message"] and node["message"]["author"]["role"] == "assistant"
        for part in node["message"]["content"]["parts"]
    ]
    for text in answers:
        render_markdown(text)
    floor_s = time.perf_counter() - start

    phases: dict[str, float] = {}
    start = time.perf_counter()

    def progress(phase: str, done: int, total: int) -> None:
        phases.setdefault(phase, time.perf_counter() - start)

    stored = import_file(user, data, progress)
    total_s = time.perf_counter() - start
    starts = [*sorted(phases.items(), key=lambda item: item[1]), ("end", total_s)]
    print(
        f"{len(stored)} conversations, {len(answers)} answers, {len(data) / 1e6:.1f} MB"
    )
    for (phase, at), (_, until) in itertools.pairwise(starts):
        print(f"  {phase:<8} {until - at:6.2f} s")
    print(f"import   {total_s:6.2f} s")
    print(f"floor    {floor_s:6.2f} s  (JSON + serial in-process rendering)")
    print(f"ratio    {total_s / floor_s:6.2f} x the floor")


if __name__ == "__main__":
    main()
