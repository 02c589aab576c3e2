"""Inside a pod's namespaces, become its container: mounts, read-only root, user, exec.

Run as `ip netns exec NS unshare --uts python podexec.py SPEC.json`, so it is already in
the pod's network namespace and in a mount namespace of its own (`ip netns exec` makes
one; nothing mounted here is seen by the host). SPEC (written by `pods.py`) holds the
hostname, the volume mounts (host directory or file → mount path), whether the root
filesystem is read-only, the user, the working directory, the environment and argv, and
`image`: where the image's Python is when the host keeps it below a folder only root may
enter (pyenv under /root): that folder is replaced by an empty tmpfs in the pod, with the
interpreter's folder bind-mounted back, read-only; `keep`: the folders the image's commands
run from (the checkout with its .venv), bound back read-only where a volume hid them.
Mount points that the host lacks (/var/lib/salesops/workspace, /mlflow/artifacts) are made
as empty folders on the host, as an image has them, and left there: removing one while a
concurrent run's pod has a volume mounted on it would unmount it there.
This file imports only the standard library: it is run by path, not as part of the tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys


def mount(*args: str, fds: tuple[int, ...] = ()) -> None:
    # no canonicalizing: /proc/self/fd/N must stay the open folder, not its old path
    subprocess.run(["mount", "--no-canonicalize", *args], check=True, pass_fds=fds)


def main(spec_path: str) -> None:
    with open(spec_path) as handle:
        spec = json.load(handle)
    os.unlink(spec_path)  # it holds resolved Secret values
    subprocess.run(["hostname", spec["hostname"]], check=True)
    image = spec["image"]
    if image:  # the interpreter's folder below a folder the pod's user may not enter
        handle = os.open(image["expose"], os.O_PATH)
        mount("-t", "tmpfs", "-o", "mode=0755", "tmpfs", image["hide"])
        os.makedirs(image["expose"])
        mount("--bind", f"/proc/self/fd/{handle}", image["expose"], fds=(handle,))
        mount("-o", "remount,bind,ro", image["expose"])
        os.close(handle)
    mounts = sorted(spec["mounts"], key=lambda m: m["target"].count("/"))
    # open every source first: a mount at /tmp would hide a source below /tmp
    handles = [os.open(item["source"], os.O_PATH) for item in mounts]
    kept = [(path, os.open(path, os.O_PATH)) for path in spec["keep"]]
    for item, handle in zip(mounts, handles, strict=True):
        target = item["target"]
        if item["file"]:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if not os.path.exists(target):
                open(target, "a").close()
        else:
            os.makedirs(target, exist_ok=True)
        mount("--bind", f"/proc/self/fd/{handle}", target, fds=(handle,))
        if item["readOnly"]:
            mount("-o", "remount,bind,ro", target)
    for handle in handles:
        os.close(handle)
    for path, handle in kept:  # the image's folders, if a volume above one hid it
        if not _same(path, handle):
            os.makedirs(path, exist_ok=True)
            mount("--bind", f"/proc/self/fd/{handle}", path, fds=(handle,))
            mount("-o", "remount,bind,ro", path)
        os.close(handle)
    os.makedirs(spec["cwd"], exist_ok=True)  # the image's WORKDIR
    if spec["readOnlyRoot"]:
        mount("-o", "remount,bind,ro", "/")
    os.chdir(spec["cwd"])
    argv = spec["argv"]
    if spec["uid"] is not None:
        gid = spec["gid"] if spec["gid"] is not None else spec["uid"]
        argv = ["setpriv", f"--reuid={spec['uid']}", f"--regid={gid}", "--clear-groups",
                "--no-new-privs", "--", *argv]
    env = spec["env"]
    path = env.get("PATH", os.defpath)
    try:  # setpriv itself from the host's PATH, the container's command from the pod's
        os.execve(_which(argv[0], os.environ.get("PATH", os.defpath) if spec["uid"] is not None
                         else path), argv, env)
    except FileNotFoundError:
        sys.stderr.write(f"exec: {argv[0]}: not found on PATH {path}\n")
        sys.exit(127)


def _same(path: str, handle: int) -> bool:
    try:
        here, there = os.stat(path), os.fstat(handle)
    except FileNotFoundError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def _which(name: str, path: str) -> str:
    if "/" in name:
        return name
    for folder in path.split(":"):
        candidate = os.path.join(folder, name)
        if os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError(name)


if __name__ == "__main__":
    main(sys.argv[1])
