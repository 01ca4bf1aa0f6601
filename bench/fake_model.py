"""An OpenAI-compatible chat-completions server for bench/chat.sh: answers at
once, so a chat turn's time is the server's own. With TOOL=1 the first answer
of a turn calls list_tasks and the second (after the tool's result) is text.

    python3 bench/fake_model.py PORT [TOOL]
"""
import json
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOOL = len(sys.argv) > 2 and sys.argv[2] == "1"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # Headers and body go out in two writes: without this, Nagle and
        # the client's delayed ACK hold each answer for 40 ms.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        tool_done = any(m.get("role") == "tool" for m in body["messages"])
        if TOOL and not tool_done and body.get("tools"):
            message = {"role": "assistant", "content": None, "tool_calls": [{
                "id": "call_0", "type": "function",
                "function": {"name": "list_tasks", "arguments": "{\"limit\": 5}"}}]}
        else:
            message = {"role": "assistant", "content": "Done: nothing else to do."}
        out = json.dumps({
            "id": "b", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110},
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
