"""Static files as production serves them: hashed names, ES modules included."""

import json
import os
import re
import subprocess
import sys
from pathlib import PurePosixPath

from tests.servers import BASE_DIR

MODULE_IMPORT = re.compile(r"""\bfrom\s*["']([^"']+)["']""")


def test_collected_modules_import_each_other_by_hashed_name(tmp_path):
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "static-files-test",
        "STATIC_MANIFEST": "true",
        "STATIC_ROOT": str(tmp_path),
    }
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=BASE_DIR,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    paths = json.loads((tmp_path / "staticfiles.json").read_text())["paths"]
    hashed = set(paths.values())
    modules = [name for name in paths if name.startswith("chat/js/")]

    assert "chat/js/main.js" in modules
    for name in modules:
        served = PurePosixPath(paths[name])
        for specifier in MODULE_IMPORT.findall((tmp_path / served).read_text()):
            target = os.path.normpath(served.parent / specifier)
            assert target in hashed, f"{served} imports {specifier}: not a hashed file"
    main = (tmp_path / paths["chat/js/main.js"]).read_text()
    assert len(MODULE_IMPORT.findall(main)) > 10
