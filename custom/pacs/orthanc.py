"""A PACS of our own for the demo, the speed bench and the tests: Orthanc with its DICOMweb plugin.

Debian's packages (``apt-get install orthanc orthanc-dicomweb``) provide it. The instance answers callers on this
machine only, keeps its database in a temporary folder that is deleted when it stops, and has its DICOM port
closed: nothing outside this machine can use it, and nothing of it outlives the run. (Orthanc 1.10 has no option
to bind one address: its HTTP port listens on every interface, and ``RemoteAccessAllowed: false`` refuses every
caller but 127.0.0.1.)
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import requests

from custom.pacs.errors import PacsError

# where Debian's orthanc-dicomweb puts the plugin; $MAMMO_SSL_ORTHANC_PLUGIN names another
PLUGIN_LOCATIONS = ("/usr/share/orthanc/plugins/libOrthancDicomWeb.so", "/usr/lib/orthanc/libOrthancDicomWeb.so")
INSTALL_HINT = "install it with: apt-get install orthanc orthanc-dicomweb"
START_TIMEOUT_S = 60.0


def free_port() -> int:
    """A TCP port nothing listens on now (the kernel's choice)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def dicomweb_plugin() -> Path:
    """The DICOMweb plugin's shared library, or a ``PacsError`` saying how to install it."""
    candidates = [os.environ["MAMMO_SSL_ORTHANC_PLUGIN"]] if os.environ.get("MAMMO_SSL_ORTHANC_PLUGIN") else []
    for candidate in [*candidates, *PLUGIN_LOCATIONS]:
        if Path(candidate).is_file():
            return Path(candidate)
    raise PacsError(f"Orthanc's DICOMweb plugin was not found (looked in {', '.join(PLUGIN_LOCATIONS)}); "
                    f"{INSTALL_HINT}")


class TemporaryOrthanc:
    """An Orthanc process on 127.0.0.1 with temporary storage; a context manager (``with TemporaryOrthanc() as pacs``).

    Args:
        port: HTTP port (default: a free one).
        users: ``{name: password}`` to require HTTP basic authentication (default: none).
    """

    def __init__(self, port: int | None = None, users: dict[str, str] | None = None):
        self.port = port or free_port()
        self.users = dict(users or {})
        self._folder: Path | None = None
        self._process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def dicomweb(self) -> str:
        """The DICOMweb root (QIDO-RS, WADO-RS and STOW-RS)."""
        return f"{self.url}/dicom-web"

    def config(self, storage: Path) -> dict:
        """Orthanc's configuration: HTTP on 127.0.0.1 only, DICOM port closed, DICOMweb at /dicom-web/."""
        return {
            "Name": "MAMMO-PACS",
            "StorageDirectory": str(storage),
            "IndexDirectory": str(storage),
            "HttpPort": self.port,
            "DicomServerEnabled": False,
            # Orthanc 1.10 binds every interface; this refuses every caller but this machine
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": bool(self.users),
            "RegisteredUsers": self.users,
            "Plugins": [str(dicomweb_plugin())],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        }

    def start(self) -> TemporaryOrthanc:
        executable = shutil.which("Orthanc")
        if executable is None:
            raise PacsError(f"Orthanc is not installed (no 'Orthanc' on PATH); {INSTALL_HINT}")
        self._folder = Path(tempfile.mkdtemp(prefix="mammo-orthanc-"))
        config = self._folder / "orthanc.json"
        config.write_text(json.dumps(self.config(self._folder / "db"), indent=1))
        log = open(self._folder / "orthanc.log", "wb")
        self._process = subprocess.Popen([executable, str(config)], stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self._wait_until_ready()
        return self

    def _wait_until_ready(self) -> None:
        auth = next(iter(self.users.items()), None)
        started = time.monotonic()
        while time.monotonic() - started < START_TIMEOUT_S:
            if self._process.poll() is not None:
                break
            try:
                if requests.get(f"{self.url}/system", auth=auth, timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        log = self.log_tail()
        self.stop()
        raise PacsError(f"Orthanc did not start within {START_TIMEOUT_S:.0f} s on port {self.port}; "
                        f"its log ends:\n{log}")

    def log_tail(self, characters: int = 3000) -> str:
        log = self._folder / "orthanc.log" if self._folder else None
        return log.read_bytes()[-characters:].decode(errors="replace") if log and log.is_file() else ""

    def stop(self) -> None:
        """Stops the process (by its own id) and deletes its storage."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=30)
        self._process = None
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def __enter__(self) -> TemporaryOrthanc:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
