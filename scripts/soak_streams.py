#!/usr/bin/env python3
"""The long-lived side of the soak (scripts/soak.sh): for each user, in a
loop until told to stop, an event stream opened with a ticket and read for
a while, then an MCP session (initialize, its GET stream read for a while,
a tool call in the session, DELETE). Prints one line of counts at the end.

    soak_streams.py <base-url> <seconds> <token> [<token> ...]

Standard library only. Traffic goes to the base URL given (loopback).
"""
import http.client
import json
import sys
import threading
import time
import urllib.parse

PREVIOUS = "2025-06-18"
counts = {"event_streams": 0, "mcp_sessions": 0, "mcp_streams": 0, "tool_calls": 0,
          "refused_429": 0, "errors": 0}
lock = threading.Lock()


def count(key, n=1):
    with lock:
        counts[key] += n


def conn(base):
    u = urllib.parse.urlparse(base)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=30)


def read_for(resp, seconds):
    """Read a stream's body for about `seconds` (or until it ends)."""
    end = time.time() + seconds
    while time.time() < end:
        if not resp.fp or not resp.fp.readline():
            return


def request(base, method, path, token, body=None, headers=None):
    c = conn(base)
    h = {"Authorization": f"Bearer {token}"}
    h.update(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body)
        h["Content-Type"] = "application/json"
    c.request(method, path, body=data, headers=h)
    return c, c.getresponse()


def check(resp, ok=(200, 202, 204)):
    if resp.status == 429:
        count("refused_429")
        return False
    if resp.status not in ok:
        count("errors")
        return False
    return True


def events(base, token):
    c, r = request(base, "POST", "/api/events/ticket", token)
    if not check(r):
        c.close()
        return
    ticket = json.loads(r.read())["ticket"]
    c.close()
    c = conn(base)
    c.request("GET", "/api/events?" + urllib.parse.urlencode({"ticket": ticket}))
    r = c.getresponse()
    if check(r):
        count("event_streams")
        read_for(r, 5)
    c.close()


def mcp(base, token):
    accept = {"Accept": "application/json, text/event-stream"}
    c, r = request(base, "POST", "/mcp", token, {
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": PREVIOUS, "capabilities": {},
                   "clientInfo": {"name": "soak", "version": "1"}}}, accept)
    if not check(r):
        c.close()
        return
    session = r.getheader("mcp-session-id")
    r.read()
    c.close()
    count("mcp_sessions")
    s = dict(accept, **{"Mcp-Session-Id": session, "MCP-Protocol-Version": PREVIOUS})
    c, r = request(base, "POST", "/mcp", token,
                   {"jsonrpc": "2.0", "method": "notifications/initialized"}, s)
    check(r)
    r.read()
    c.close()
    c, r = request(base, "POST", "/mcp", token, {
        "jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "list_tasks", "arguments": {"limit": 5}}}, s)
    if check(r):
        count("tool_calls")
    r.read()
    c.close()
    g = dict(s, Accept="text/event-stream")
    c, r = request(base, "GET", "/mcp", token, None, g)
    if check(r):
        count("mcp_streams")
        read_for(r, 3)
    c.close()
    c, r = request(base, "DELETE", "/mcp", token, None, s)
    check(r)
    r.read()
    c.close()


def user_loop(base, token, stop):
    while time.time() < stop:
        for step in (events, mcp):
            try:
                step(base, token)
            except Exception:  # a connection error is counted, not fatal
                count("errors")
                time.sleep(1)


def main():
    base, seconds, tokens = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
    stop = time.time() + seconds
    threads = [threading.Thread(target=user_loop, args=(base, t, stop), daemon=True)
               for t in tokens]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 60)
    print("== streams: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
