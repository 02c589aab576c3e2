"""The image the pods run: this machine, as the Dockerfile would have made it.

Its ENV, USER and WORKDIR (`IMAGE_ENV`, `IMAGE_USER`, `WORKDIR`); its commands from the
repository's virtual environment (the folder of the Python running the tests, first on
PATH); its `salesops` user in /etc/passwd (`image_accounts`); its interpreter where that user
can run it (`image_python`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

VENV_BIN = str(Path(sys.executable).parent)
#: the Dockerfile's ENV, USER and WORKDIR
IMAGE_ENV = {"PATH": f"{VENV_BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
             "PYTHONUNBUFFERED": "1", "SALESOPS_PROJECT__WORKSPACE": "/var/lib/salesops/workspace",
             "HOME": "/var/lib/salesops"}
#: another source tree to run instead of the installed one (to see a test fail on the code
#: before a fix: `git archive HEAD src | tar -x -C /tmp/old`, CLUSTER_SIM_SRC=/tmp/old/src)
OTHER_SRC = {"PYTHONPATH": os.environ["CLUSTER_SIM_SRC"]} if os.environ.get("CLUSTER_SIM_SRC") else {}
IMAGE_ENV.update(OTHER_SRC)
#: the folders the image's commands run from: the repository (its .venv, and src/ that the
#: editable install points at) and another source tree; a pod's volume mounted above one
#: (an emptyDir at /tmp, when the checkout is below /tmp as CI's may be) must not hide it
IMAGE_DIRS = [str(Path(sys.prefix).resolve().parent),
              *([os.environ["CLUSTER_SIM_SRC"]] if os.environ.get("CLUSTER_SIM_SRC") else [])]
IMAGE_USER = 10001
WORKDIR = "/var/lib/salesops"


def image_accounts(root: Path) -> list[dict]:
    """/etc/passwd and /etc/group as the image has them: this machine's, plus the
    Dockerfile's `salesops` user (10001), mounted read-only in every container."""
    mounts = []
    for name, line in (("passwd", f"salesops:x:{IMAGE_USER}:{IMAGE_USER}::{WORKDIR}:"
                                  "/usr/sbin/nologin"), ("group", f"salesops:x:{IMAGE_USER}:")):
        path = root / "image" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Path(f"/etc/{name}").read_text().rstrip("\n") + f"\n{line}\n")
        path.chmod(0o644)
        mounts.append({"source": str(path), "target": f"/etc/{name}", "readOnly": True,
                       "file": True})
    return mounts


def image_python() -> dict | None:
    """The interpreter's folder and the first folder above it that other users may not
    enter (the image has its Python where its user can run it), or None."""
    prefix = Path(sys.base_prefix).resolve()
    for folder in reversed(prefix.parents):
        if folder != Path("/") and not os.stat(folder).st_mode & 0o001:
            return {"hide": str(folder), "expose": str(prefix)}
    return None
