#!/usr/bin/env python3
"""A fleet behind the real HAProxy (see fleet.py): three instances on 127.0.0.2-4 with
proxy_protocol listeners, HAProxy on 127.0.0.1 with send-proxy-v2 and GET /healthz checks on
the admin ports, load from 127.0.0.9 (fresh and keep-alive clients). One round each of the
rolling restart (QUIT with drain_delay: HAProxy marks the instance DOWN while it still serves,
it exits, starts again, is marked UP), the rolling binary upgrade and the rolling reload:
zero failed requests in each. Every access-log line of every instance shows 127.0.0.9, the
client, not HAProxy's address; HAProxy's own checks of the traffic ports (PROXY v2 LOCAL)
are answered and show HAProxy's. scripts/fleet.sh --test runs more rounds."""
import os, shutil, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evtest import fail
import fleet

if not shutil.which("haproxy"):
    fail("haproxy is not installed (scripts/deps.sh installs it)")
f = fleet.Fleet()
try:
    f.start()
    print(f.describe(), flush=True)
    fleet.scenarios(f, ["restart", "upgrade", "reload"], 1)
    f.quit_all()
    f.check_access_logs()
finally:
    f.stop()
    if not os.environ.get("EVC_KEEP"):
        shutil.rmtree(f.dir, True)
print("fleet test passed")
