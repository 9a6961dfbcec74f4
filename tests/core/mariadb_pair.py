"""A MariaDB primary and a replica of it (binlog replication with GTIDs), started by the tests
in temp data directories on free ports, with the schema of the test database.

Grants are off (``--skip-grant-tables``): the servers listen on loopback only and live for one
test module, and the replica then connects to the primary as root without a password.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

import MySQLdb

MARIADBD = "/usr/sbin/mariadbd"
DATABASE = "oms"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    name: str
    datadir: str
    port: int
    process: subprocess.Popen | None = None
    extra: list[str] = field(default_factory=list)

    def start(self, server_id: int) -> None:
        args = [
            MARIADBD,
            "--no-defaults",
            f"--datadir={self.datadir}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            f"--socket={self.datadir}/mariadb.sock",
            f"--pid-file={self.datadir}/mariadb.pid",
            f"--server-id={server_id}",
            "--skip-grant-tables",
            "--innodb-buffer-pool-size=32M",
            "--innodb-log-file-size=16M",
            # Durability is not what these servers test: no fsync per commit keeps them fast.
            "--innodb-flush-log-at-trx-commit=0",
            "--sync-binlog=0",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_unicode_ci",
            *self.extra,
        ]
        if os.geteuid() == 0:
            args.append("--user=root")
        log = open(os.path.join(self.datadir, "..", f"{self.name}.log"), "wb")  # noqa: SIM115 - lives with the server
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603 - the system mariadbd
        deadline = time.monotonic() + 30
        while True:
            try:
                self.connect().close()
                return
            except MySQLdb.OperationalError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"MariaDB {self.name} did not start; see {log.name}") from None
                time.sleep(0.1)

    def connect(self, database: str | None = None):
        kwargs = {"db": database} if database else {}
        return MySQLdb.connect(host="127.0.0.1", port=self.port, user="root", connect_timeout=2, **kwargs)

    def execute(self, *statements: str) -> list[dict]:
        conn = self.connect()
        try:
            cursor = conn.cursor(MySQLdb.cursors.DictCursor)
            rows: list[dict] = []
            for statement in statements:
                cursor.execute(statement)
                rows = list(cursor.fetchall() or [])
            conn.commit()
            return rows
        finally:
            conn.close()

    def kill(self) -> None:
        """SIGKILL: the server dies as a crashed host would, without closing connections."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


class MariaDBPair:
    def __init__(self) -> None:
        self.root = tempfile.mkdtemp(prefix="oms-mariadb-pair-")
        self.primary = Server("primary", os.path.join(self.root, "primary"), _free_port(), extra=["--log-bin=bin"])
        self.replica = Server("replica", os.path.join(self.root, "replica"), _free_port(), extra=["--read-only"])

    def start(self, schema_sql: str) -> None:
        for server in (self.primary, self.replica):
            subprocess.run(  # noqa: S603 - MariaDB's own tool, fixed arguments
                [  # noqa: S607 - from PATH, as Debian installs it
                    "mariadb-install-db",
                    "--no-defaults",
                    f"--datadir={server.datadir}",
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                    *(["--user=root"] if os.geteuid() == 0 else []),
                ],
                check=True,
                capture_output=True,
            )
        self.primary.start(server_id=1)
        self.replica.start(server_id=2)
        self.replica.execute(
            f"CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={self.primary.port}, MASTER_USER='root',"
            " MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1",
            "START SLAVE",
        )
        # The schema goes through replication like any later write.
        subprocess.run(  # noqa: S603 - the MariaDB client, fixed arguments
            ["mariadb", "-h127.0.0.1", f"-P{self.primary.port}", "-uroot"],  # noqa: S607 - from PATH
            input=f"CREATE DATABASE {DATABASE};\nUSE {DATABASE};\nSET FOREIGN_KEY_CHECKS=0;\n{schema_sql}",
            text=True,
            check=True,
            capture_output=True,
        )
        self.wait_replica_caught_up()

    def wait_replica_caught_up(self, timeout: float = 15) -> None:
        target = self.primary.execute("SELECT @@gtid_binlog_pos AS pos")[0]["pos"]
        rows = self.replica.execute(f"SELECT MASTER_GTID_WAIT('{target}', {timeout}) AS waited")
        if rows[0]["waited"] != 0:
            status = self.replica.execute("SHOW SLAVE STATUS")[0]
            raise RuntimeError(
                f"the replica did not reach {target}: {status['Last_SQL_Error'] or status['Last_IO_Error']}"
            )

    def stop(self) -> None:
        self.replica.stop()
        self.primary.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def dump_schema(*, host: str, port: int | str, user: str, password: str, database: str) -> str:
    """The CREATE TABLE statements of ``database`` (no rows)."""
    command = ["mariadb-dump", "--no-data", "--skip-comments", f"-h{host or '127.0.0.1'}", f"-P{port or 3306}"]
    command += [f"-u{user}", *([f"-p{password}"] if password else []), database]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout  # noqa: S603 - mariadb-dump
