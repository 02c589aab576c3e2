"""The API server as pods see it: the `kubernetes` Service in `default` (HTTPS on its
ClusterIP, port 443, terminated here and forwarded to the stand-in's plain HTTP), the
`KUBERNETES_SERVICE_HOST` / `_PORT` variables the kubelet gives every container, and the
service account folder (token, ca.crt, namespace) mounted where a pod's token is
automounted. So a pod that uses the in-cluster configuration (the drift CronJob's, which
submits a TrainJob and redeploys the InferenceService) talks to the same stand-in as the
laptop. The stand-in does not check the token; RBAC is not simulated.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path

TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"


def write_certificate(folder: Path, ip: str) -> tuple[Path, Path]:
    """A self-signed certificate for `ip` (it is its own CA, as a pod's ca.crt)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.IPAddress(ipaddress.ip_address(ip)), x509.DNSName("kubernetes"),
                x509.DNSName("kubernetes.default.svc")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "ca.crt", folder / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def token_folder(root: Path, ca: Path, namespace: str) -> Path:
    """What the kubelet mounts at TOKEN_PATH for a pod of `namespace`."""
    folder = root / "serviceaccount" / namespace
    if not folder.exists():
        folder.mkdir(parents=True)
        (folder / "token").write_text("simulated-service-account-token")
        (folder / "ca.crt").write_bytes(ca.read_bytes())
        (folder / "namespace").write_text(namespace)
        for path in (folder, *folder.iterdir()):
            path.chmod(0o755 if path.is_dir() else 0o644)
    return folder


def automounted(spec: dict, service_account: dict | None) -> bool:
    """The pod's `automountServiceAccountToken`, else its service account's, else true."""
    if "automountServiceAccountToken" in spec:
        return bool(spec["automountServiceAccountToken"])
    return bool((service_account or {}).get("automountServiceAccountToken", True))
