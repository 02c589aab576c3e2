"""The containers' volumes, as the kubelet prepares them (see pods.py)."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from tests.cluster.api_access import TOKEN_PATH, automounted, token_folder
from tests.cluster.image import image_accounts
from tests.cluster.pod import Pod, PodError


class VolumeMounter:
    """For the Kubelet: `root`, `lookup`, `api_ca` and `_object` are its."""

    def mounts(self, pod: Pod, container: dict, uid: int, fs_group: int) -> list[dict]:
        sources = {}
        for volume in pod.spec.get("volumes") or []:
            sources[volume["name"]] = self._volume(pod, volume, uid, fs_group)
        mounts = image_accounts(self.root)
        account = self.lookup("serviceaccounts", pod.namespace,
                              pod.spec.get("serviceAccountName", "default"))
        if self.api_ca is not None and automounted(pod.spec, account):
            mounts.append({"source": str(token_folder(self.root, self.api_ca, pod.namespace)),
                           "target": TOKEN_PATH, "readOnly": True, "file": False})
        for mount in container.get("volumeMounts") or []:
            if mount["name"] not in sources:
                raise PodError(f"volumeMount {mount['name']!r} has no volume")
            source = sources[mount["name"]]
            if mount.get("subPath"):
                source = source / mount["subPath"]
            mounts.append({"source": str(source), "target": mount["mountPath"],
                           "readOnly": bool(mount.get("readOnly")), "file": source.is_file()})
        return mounts

    def _volume(self, pod: Pod, volume: dict, uid: int, fs_group: int) -> Path:
        if "persistentVolumeClaim" in volume:
            claim = volume["persistentVolumeClaim"]["claimName"]
            if self.lookup("persistentvolumeclaims", pod.namespace, claim) is None:
                raise PodError(f'persistentvolumeclaim "{claim}" not found')
            folder = self.root / "volumes" / claim
        else:
            folder = pod.folder / "volumes" / volume["name"]
        folder.mkdir(parents=True, exist_ok=True)
        files: dict[str, bytes] = {}
        if "configMap" in volume:
            data = self._object("configmaps", pod.namespace, volume["configMap"]["name"]).get("data") or {}
            files = {k: v.encode() for k, v in data.items()}
            items = volume["configMap"].get("items")
        elif "secret" in volume:
            data = self._object("secrets", pod.namespace, volume["secret"]["secretName"]).get("data") or {}
            files = {k: base64.b64decode(v) for k, v in data.items()}
            items = volume["secret"].get("items")
        elif not ({"emptyDir", "persistentVolumeClaim"} & set(volume)):
            raise PodError(f"volume {volume['name']!r}: {sorted(set(volume) - {'name'})} is not simulated")
        else:
            items = None
        for key, content in files.items():
            paths = [i["path"] for i in items or [] if i["key"] == key] if items else [key]
            for path in paths:
                (folder / path).parent.mkdir(parents=True, exist_ok=True)
                (folder / path).write_bytes(content)
                (folder / path).chmod(0o644)
        if not files and not folder.stat().st_uid:  # a new empty volume: the fsGroup's
            os.chown(folder, uid, fs_group)
            folder.chmod(0o2775)
        return folder
