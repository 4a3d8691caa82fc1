"""A real PostgreSQL server for the tests: Debian's binaries, a temporary cluster, a free port.

``initdb`` and ``pg_ctl`` refuse to run as root, so as root the cluster belongs to ``nobody``
and the commands run through ``runuser``. The server listens on 127.0.0.1 only, with trust
authentication for local connections (nothing else can reach this machine's loopback in a
test run), and is stopped (immediately: it holds nothing worth keeping) at the end. It offers
TLS, with a self-signed certificate made for the run, as a server holding faces should: the
galleries' connections use it unless their URL says ``sslmode=disable``.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path


def server_binaries() -> Path | None:
    """The folder with initdb and pg_ctl (Debian's versioned one first), or None."""
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    found = shutil.which("initdb")
    return Path(found).parent if found and shutil.which("pg_ctl") else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresServer:
    def __init__(self, binaries: Path) -> None:
        self.binaries = binaries
        self.root = Path(tempfile.mkdtemp(prefix="oneshot-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.as_root = os.geteuid() == 0

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "nobody", "--"] if self.as_root else []
        subprocess.run(prefix + list(command), check=True, capture_output=True, text=True, timeout=120)

    def start(self) -> PostgresServer:
        if self.as_root:
            os.chmod(self.root, 0o777)
        self._run(str(self.binaries / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--no-sync")
        self._write_certificate()
        self.restart()
        return self

    def _write_certificate(self) -> None:
        """A self-signed certificate for 127.0.0.1; the key readable by the server's user only."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
        now = datetime.now(timezone.utc)
        certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                       .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(hours=1))
                       .not_valid_after(now + timedelta(days=1)).sign(key, hashes.SHA256()))
        for file, data in ((self.data / "server.crt", certificate.public_bytes(serialization.Encoding.PEM)),
                           (self.data / "server.key", key.private_bytes(serialization.Encoding.PEM,
                                                                        serialization.PrivateFormat.PKCS8,
                                                                        serialization.NoEncryption()))):
            file.write_bytes(data)
            os.chmod(file, 0o600)
            if self.as_root:
                os.chown(file, *self._owner())

    def _owner(self) -> tuple[int, int]:
        info = os.stat(self.data)
        return info.st_uid, info.st_gid

    def stop(self) -> None:
        self._run(str(self.binaries / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def restart(self) -> None:
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.root} "
                   "-c fsync=off -c ssl=on")
        self._run(str(self.binaries / "pg_ctl"), "-D", str(self.data), "-o", options, "-w", "-l",
                  str(self.root / "log"), "start")

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def remove(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)
