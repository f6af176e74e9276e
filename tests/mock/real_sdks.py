"""Run real, unchanged Dify SDKs against a live mock, each from its own install directory.

The strict PyPI SDKs (`dify-client-python`, `dify-api-client`) and the older `dify-client` all ship
a top-level package named `dify_client`, so no two of them can share one site-packages. Each is
installed with `pip --target` into a directory of its own (its dependencies, httpx, httpx-sse and
pydantic, come from the dev extras) and driven by a session script in a subprocess (python -I)
that puts that directory first on sys.path. The script prints one JSON object per line; the test reads
them. The pins are here, in one place.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

PYTHON_SDKS = {"dify-client-python": "1.0.3", "dify-api-client": "0.0.23"}
SESSIONS = Path(__file__).resolve().parent / "sdk_sessions"
ROOT = Path(__file__).resolve().parents[2]


def install(name: str, directory: Path) -> Path:
    """`pip install --no-deps --target` the pinned SDK (once per directory); returns the directory."""
    target = directory / f"{name}-{PYTHON_SDKS[name]}"
    if not (target / "dify_client").is_dir():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-deps",
                "--target",
                str(target),
                f"{name}=={PYTHON_SDKS[name]}",
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )
    return target


def run_session(
    name: str, target: Path, base_url: str, keys: dict[str, str], operations: list[str], timeout: float = 120
) -> list[dict[str, Any]]:
    """Run sdk_sessions/<name>.py in isolated mode; the script puts `target` first on sys.path."""
    script = SESSIONS / f"{name.replace('-', '_')}.py"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"PYTHONPATH", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"}
    }
    env["NO_PROXY"] = "127.0.0.1,localhost"
    argument = json.dumps(
        {
            "sdk_dir": str(target),
            "base_url": base_url,
            "keys": keys,
            "operations": operations,
            "fixtures": str(ROOT / "fixtures"),
        }
    )
    done = subprocess.run(
        [sys.executable, "-I", str(script), argument],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=str(target),
    )
    if done.returncode != 0:
        raise AssertionError(f"{name} session failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
