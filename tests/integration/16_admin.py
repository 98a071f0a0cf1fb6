#!/usr/bin/env python3
"""The admin listener (admin.listen), served by the supervisor: /healthz, /status (the JSON of
`status --json`), /metrics (Prometheus text that passes `promtool check metrics`), GET and
HEAD only. Counters count what was served (by status code, bytes, connections, the duration
histogram) and never go backwards: not across a SIGKILLed worker, a worker killed for missed
pings, a reload or a failed reload. A reload moves the admin listener to a new address. Then a graceful stop with timeouts.drain_delay: /healthz
turns 503 "draining" while requests still succeed, and only after the delay do connections
get refused."""
import json, os, signal, socket, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evtest import *
from admintest import *

DELAY = 2.0
s = Server(workers=2, files={"a.txt": b"hello\n"},
           settings=admin_settings({
               "health": "{ interval = 0.2; misses = 3; }",
               "timeouts": "{ graceful = 10.0; keepalive = 5.0; header = 5.0; send = 10.0; "
                           "drain_delay = %.1f; }" % DELAY}))
try:
    s.start()
    port = admin_port(s)

    # /healthz, methods, unknown paths
    st, h, body = admin_get(port, "/healthz")
    check(st == 200 and body == b"ok\n", "/healthz: %d %r" % (st, body))
    st, h, body = admin_get(port, "/healthz", method="HEAD")
    check(st == 200 and body == b"" and h.get("content-length") == "3", "HEAD /healthz: %d %r %r"
          % (st, h, body))
    for m in ("POST", "PUT", "DELETE", "OPTIONS"):
        st, h, _ = admin_get(port, "/healthz", method=m)
        check(st == 405 and h.get("allow") == "GET, HEAD", "%s: %d %r" % (m, st, h))
    st, _, _ = admin_get(port, "/nothing")
    check(st == 404, "/nothing: %d" % st)
    st, _, _ = admin_get(port, "/healthz?probe=1")
    check(st == 200, "a query is ignored: %d" % st)

    # what is served is counted, once the workers' figures came with a ping
    for i in range(7):
        check(request(s.port, "/a.txt").status == 200, "GET /a.txt")
    for i in range(3):
        check(request(s.port, "/missing").status == 404, "GET /missing")
    check(request(s.port, "/a.txt", method="POST").status == 405, "POST")

    def counted():
        v, t = parse_metrics(metrics_text(port))
        ok = (v.get('evcluster_requests_total{code="200"}') == 7 and
              v.get('evcluster_requests_total{code="404"}') == 3 and
              v.get('evcluster_requests_total{code="405"}') == 1)
        return (v, t) if ok else None
    m0 = sup_wait(counted, 10, "metrics count 7 x 200, 3 x 404, 1 x 405")
    v, t = m0
    check(v["evcluster_connections_accepted_total"] == 11, "accepted: %r" %
          v["evcluster_connections_accepted_total"])
    check(v['evcluster_request_duration_seconds_count'] == 11 and
          v['evcluster_request_duration_seconds_bucket{le="+Inf"}'] == 11,
          "histogram count 11")
    check(v["evcluster_response_bytes_total"] > 7 * 6, "response bytes: %r" %
          v["evcluster_response_bytes_total"])
    check(v['evcluster_build_info{version="0.1.0"}'] == 1, "build_info")
    check(v["evcluster_worker_starts_total"] == 2, "2 worker starts")
    check(v['evcluster_workers{state="running"}'] == 2, "2 running workers")
    for slot in (0, 1):
        check('evcluster_loop_lag_seconds{slot="%d",stat="p99"}' % slot in v, "lag of slot %d" % slot)
        check('evcluster_pool_queued_jobs{slot="%d"}' % slot in v, "pool queue of slot %d" % slot)
    promtool_check(metrics_text(port))

    # /status is status --json
    st, h, body = admin_get(port, "/status")
    check(st == 200 and h.get("content-type") == "application/json", "/status: %d %r" % (st, h))
    web = json.loads(body)
    cli = sup_status(s)
    check(set(web) == set(cli) and set(web["supervisor"]) == set(cli["supervisor"]),
          "/status has the keys of status --json")
    check(web["supervisor"]["pid"] == cli["supervisor"]["pid"] == s.proc.pid, "same supervisor")
    check(sorted(w["pid"] for w in web["workers"]) == sorted(w["pid"] for w in cli["workers"]),
          "same workers")
    check(set(web["workers"][0]) == set(cli["workers"][0]), "same worker keys")

    # monotonic across a SIGKILLed worker
    victim = sup_workers(s, state="running")[0]
    os.kill(victim, signal.SIGKILL)
    sup_wait(lambda: len(sup_workers(s, state="running")) == 2 and victim not in sup_workers(s),
             10, "the killed worker replaced")
    m1 = parse_metrics(metrics_text(port))
    check_monotonic(m0, m1, "after SIGKILL")
    check(m1[0]['evcluster_worker_restarts_total{reason="crash"}'] == 1, "one crash restart")
    check(m1[0]["evcluster_worker_starts_total"] == 3, "3 worker starts")

    # a worker that stops answering pings is killed for health
    stopped = sup_workers(s, state="running")[0]
    os.kill(stopped, signal.SIGSTOP)
    sup_wait(lambda: parse_metrics(metrics_text(port))[0]
             ['evcluster_worker_restarts_total{reason="health"}'] == 1, 15,
             "a restart for health")
    sup_wait(lambda: len(sup_workers(s, state="running")) == 2, 10, "two running again")
    for i in range(5):
        check(request(s.port, "/a.txt").status == 200, "GET after the restarts")
    m2 = parse_metrics(metrics_text(port))
    check_monotonic(m1, m2, "after a health kill")

    # reload, then a failed reload
    r = s.cli("-s", "reload")
    check(r.returncode == 0, "reload: %r" % r.stderr)
    sup_wait(lambda: sup_workers(s, state="draining") == [], 15, "the old generation gone")
    m3 = parse_metrics(metrics_text(port))
    check_monotonic(m2, m3, "after a reload")
    check(m3[0]['evcluster_reloads_total{result="success"}'] == 1, "one successful reload")
    check(m3[0]['evcluster_requests_total{code="200"}'] >= 7 + 5, "200s counted across the reload")
    conf = open(s.conf).read()
    with open(s.conf, "w") as f:
        f.write(conf + "workers = oops;\n")
    r = s.cli("-s", "reload")
    check(r.returncode == 1, "a broken config fails the reload")
    with open(s.conf, "w") as f:
        f.write(conf)
    m4 = parse_metrics(metrics_text(port))
    check_monotonic(m3, m4, "after a failed reload")
    check(m4[0]['evcluster_reloads_total{result="failure"}'] == 1, "one failed reload")
    promtool_check(metrics_text(port))

    # the admin listener follows a reload to a new address; the old one stops answering
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    new_port = probe.getsockname()[1]
    probe.close()
    s.write_conf({"admin": '{ listen = "127.0.0.1:%d"; }' % new_port})
    r = s.cli("-s", "reload")
    check(r.returncode == 0, "reload moving the admin listener: %r" % r.stderr)
    check(admin_get(new_port, "/healthz")[0] == 200, "/healthz on the new address")
    try:
        admin_get(port, "/healthz", timeout=2)
        fail("the old admin address still answers")
    except (ConnectionRefusedError, ConnectionResetError):
        pass
    m5 = parse_metrics(metrics_text(new_port))
    check_monotonic(m4, m5, "after moving the admin listener")
    port = new_port

    # drain_delay: /healthz says 503 while requests still succeed; then connections are refused
    t0 = time.monotonic()
    r = s.cli("-s", "quit")
    check(r.returncode == 0, "quit: %r" % r.stderr)
    st, _, body = admin_get(port, "/healthz")
    check(st == 503 and body == b"draining\n", "503 draining at once: %d %r" % (st, body))
    served = 0
    refused_at = None
    while time.monotonic() - t0 < DELAY + 5:
        try:
            rr = request(s.port, "/a.txt")
            check(rr.status == 200, "a request during the drain delay: %d" % rr.status)
            served += 1
            if time.monotonic() - t0 < DELAY - 0.3:
                st, _, body = admin_get(port, "/healthz")
                check(st == 503, "/healthz stays 503 during the delay: %d" % st)
        except (ConnectionRefusedError, ConnectionResetError, EOFError):
            refused_at = time.monotonic() - t0
            break
        time.sleep(0.05)
    check(served >= 5, "requests succeeded during the delay (%d)" % served)
    check(refused_at is not None and refused_at >= DELAY - 0.2,
          "connections refused only after the delay (at %r s)" % refused_at)
    check(s.wait_exit(15) == 0, "exit 0")
    print("ok: %d requests served during the %.1f s drain delay, refused at %.2f s"
          % (served, DELAY, refused_at))
finally:
    s.stop()
