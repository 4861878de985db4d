"""Mixed traffic for the soak test: runs, polls, long-polls, downloads, cancels, denied calls
and bad tokens from several teams, loopback only, until a deadline. Prints a JSON summary
and writes every received request id to a file (to check the audit trail)."""
import http.client
import json
import random
import sys
import threading
import time

port, seconds, ids_file = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
tokens = json.loads(sys.argv[4])  # {"team": token}
deadline = time.time() + seconds
lock = threading.Lock()
outcomes, received = {}, []


def worker(seed):
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    mine = []
    while time.time() < deadline:
        team = rng.choice(["alpha", "beta", "gamma"])
        auth = {"Authorization": "Bearer " + tokens[team]}
        r = rng.random()
        if r < 0.15 or not mine:
            body = rng.choice(['{"type":"IDENTITIES"}', '{"type":"SEARCH_EXPORT","arguments":{"query":"*"}}'])
            action, method, path = "run", "POST", "/v1/reports"
        elif r < 0.45:
            action, method, path, body = "poll", "GET", "/v1/reports/" + rng.choice(mine), None
        elif r < 0.55:
            action, method, path, body = "long_poll", "GET", "/v1/reports/%s?wait=2" % rng.choice(mine), None
        elif r < 0.70:
            action, method, path, body = "download", "GET", "/v1/reports/%s/file?format=csv" % rng.choice(mine), None
        elif r < 0.78:
            action, method, path, body = "cancel", "POST", "/v1/reports/%s/cancel" % rng.choice(mine), None
        elif r < 0.88:
            action, method, path, body = "denied", "POST", "/v1/reports", '{"type":"ACCOUNTS","arguments":{"application":"forbidden-src","sourceName":"x"}}'
        else:
            action, method, path, body = "bad_token", "GET", "/v1/reports/" + (rng.choice(mine) if mine else "x"), None
            auth = {"Authorization": "Bearer not.a.token"}
        headers = dict(auth)
        if body:
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            status = resp.status
            rid = resp.getheader("x-request-id")
            if action == "run" and status == 202:
                mine.append(json.loads(data)["id"])
                mine = mine[-20:]
        except Exception:
            status, rid = 0, None
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        with lock:
            key = "%s:%s" % (action, status)
            outcomes[key] = outcomes.get(key, 0) + 1
            # Refused before anyone is identified: audited in aggregate (a count per address
            # and reason per interval), not one record each; the soak checks the counts.
            if rid and action != "bad_token":
                received.append(rid)


threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
with open(ids_file, "w") as f:
    f.write("\n".join(received))
print(json.dumps({"requests": sum(outcomes.values()), "outcomes": dict(sorted(outcomes.items()))}))
