"""Every acknowledged check-in is durable: a report answered 200 survives PostgreSQL
crashing under load (pg_ctl stop -m immediate: no checkpoint, as after a power cut on
a durable cluster, fsync and synchronous_commit on). The check-in stores its report in
one autocommit statement (data/check_ins.py), committed before the answer is sent."""

import os
import subprocess
import sys
import threading
import time

import psycopg2

from livepatch_app.embedded_pg import EmbeddedPostgres
from livetest import start_server, wait_for

KERNEL = "5.15.0-107.117-generic"


def test_acknowledged_reports_survive_a_database_crash(tmp_path, admin_users_entry):
    pg = EmbeddedPostgres(tmp_path / "pg", durable=True)
    dsn = pg.start()
    server = None
    try:
        subprocess.run([sys.executable, "-m", "livepatch_app", "schema", "upgrade"], check=True,
                       env=dict(os.environ, LIVEPATCH_DATABASE_URL=dsn), stdout=subprocess.DEVNULL)
        server = start_server(dsn, admin_users_entry, tmp_path, concurrency_limit=8, burst_limit=8)
        token = server.admin("POST", "/v1/admin/auth-token", json={"id": "fleet", "tier": "edge"}).json()["token"]
        machines = []
        for n in range(8):
            machine_id = f"{n:032x}"
            r = server.request("PUT", f"/v1/client/{machine_id}", headers={"Authorization": f"Bearer {token}"})
            machines.append((machine_id, r.json()["machine-token"]))

        acknowledged = {machine_id: 0 for machine_id, _ in machines}
        failures = []
        stop = threading.Event()

        def client(machine_id, machine_token):
            while not stop.is_set():
                try:
                    r = server.request("POST", f"/v1/client/{machine_id}/updates", timeout=10,
                                       headers={"Authorization": f"Bearer {machine_token}"},
                                       json={"kernel": KERNEL, "architecture": "amd64"})
                except OSError as exc:  # requests' ConnectionError is one
                    failures.append(repr(exc))
                    continue
                if r.status_code == 200:
                    acknowledged[machine_id] += 1
                else:
                    failures.append(r.status_code)

        threads = [threading.Thread(target=client, args=machine) for machine in machines]
        for thread in threads:
            thread.start()
        wait_for(lambda: sum(acknowledged.values()) >= 200, timeout=30, what="check-ins before the crash")
        pg.stop(mode="immediate")
        time.sleep(0.5)  # check-ins now fail (503): none of them is acknowledged
        pg.start()
        wait_for(lambda: server.request("GET", "/debug/status").status_code == 200, timeout=30,
                 what="the server to reach the database again")
        time.sleep(0.5)
        stop.set()
        for thread in threads:
            thread.join(30)
        assert 503 in failures, "the crash happened while check-ins were running"
        with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
            cur.execute("SELECT machine_id, count(*) FROM machine_reports GROUP BY machine_id")
            stored = dict(cur.fetchall())
        conn.close()
        for machine_id, count in acknowledged.items():
            # At least every acknowledged report; at most one more per machine (committed,
            # then the answer lost as the connection died).
            assert count <= stored.get(machine_id, 0) <= count + 1, (machine_id, count, stored.get(machine_id))
    finally:
        if server is not None:
            server.stop()
        pg.delete()
