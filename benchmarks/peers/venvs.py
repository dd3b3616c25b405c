"""Each peer's virtualenv under ``.venv-peers/`` (git-ignored), created from PyPI on first use
and reused while its requirements stay the same."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from registry import PeerSpec

__all__ = ["ROOT", "VENVS", "interpreter"]

ROOT = Path(__file__).resolve().parents[2]
VENVS = ROOT / ".venv-peers"


def interpreter(spec: PeerSpec, say: Callable[[str], None]) -> Path:
    """The Python that runs ``spec``'s script, its virtualenv created or refreshed first."""
    if spec.requirements is None:
        return Path(sys.executable)
    venv = VENVS / spec.key
    python = venv / "bin" / "python"
    stamp = venv / "pgqrs-peer-requirements.txt"
    wanted = "\n".join(spec.requirements) + "\n"
    if python.exists() and stamp.exists() and stamp.read_text(encoding="utf-8") == wanted:
        return python
    say(f"{spec.key}: creating {venv.relative_to(ROOT)} ({', '.join(spec.requirements)})")
    # --clear: a virtualenv left by other requirements is rebuilt, not patched.
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, *spec.requirements], check=True)
    stamp.write_text(wanted, encoding="utf-8")
    return python
