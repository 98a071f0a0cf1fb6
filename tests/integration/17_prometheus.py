#!/usr/bin/env python3
"""A real Prometheus (Debian's prometheus package) scrapes the admin listener's /metrics:
the target is up, the request counter by status code and the duration histogram arrive with
the values the server counted, and PromQL can take a quantile of the histogram."""
import json, os, shutil, socket, subprocess, sys, time, urllib.parse, urllib.request
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evtest import *
from admintest import *


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def query(web, q):
    url = "http://127.0.0.1:%d/api/v1/query?%s" % (web, urllib.parse.urlencode({"query": q}))
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            d = json.load(r)
    except OSError:
        return None
    return d["data"]["result"] if d.get("status") == "success" else None


tool = shutil.which("prometheus")
check(tool, "prometheus not found (scripts/deps.sh installs it)")
s = Server(workers=2, files={"a.txt": b"hello\n"}, settings=admin_settings())
prom = None
try:
    s.start()
    port = admin_port(s)
    for i in range(4):
        check(request(s.port, "/a.txt").status == 200, "GET")
    check(request(s.port, "/nope").status == 404, "GET /nope")
    sup_wait(lambda: parse_metrics(metrics_text(port))[0]
             .get('evcluster_requests_total{code="200"}') == 4, 10, "counted")
    web = free_port()
    with open(os.path.join(s.dir, "prometheus.yml"), "w") as f:
        f.write("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: evcluster\n"
                "    static_configs:\n      - targets: ['127.0.0.1:%d']\n" % port)
    prom = subprocess.Popen([tool, "--config.file=" + os.path.join(s.dir, "prometheus.yml"),
                             "--storage.tsdb.path=" + os.path.join(s.dir, "tsdb"),
                             "--web.listen-address=127.0.0.1:%d" % web],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)

    def scraped():
        r = query(web, 'evcluster_requests_total{code="200"}')
        return r if r else None
    r = sup_wait(scraped, 25, "Prometheus scraped evcluster_requests_total")
    check(r[0]["value"][1] == "4", "Prometheus sees 4 x 200: %r" % r)
    up = query(web, 'up{job="evcluster"}')
    check(up and up[0]["value"][1] == "1", "the target is up: %r" % up)
    r = query(web, 'evcluster_requests_total{code="404"}')
    check(r and r[0]["value"][1] == "1", "1 x 404: %r" % r)
    r = query(web, "histogram_quantile(0.99, evcluster_request_duration_seconds_bucket)")
    check(r and float(r[0]["value"][1]) > 0, "a p99 from the histogram: %r" % r)
    n = query(web, 'count({__name__=~"evcluster_.*"})')
    print("ok: Prometheus scraped %s series" % (n[0]["value"][1] if n else "?"))
finally:
    if prom and prom.poll() is None:
        os.killpg(prom.pid, signal.SIGKILL)
        prom.wait()
    s.stop()
