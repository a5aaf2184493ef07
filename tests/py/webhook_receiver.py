"""A webhook receiver that checks every delivery with the reference Standard Webhooks library.

Usage: webhook_receiver.py SECRET OUT_DIR FAIL_FIRST
Listens on 127.0.0.1 (a free port, printed as the first line), checks each POST's
webhook-id / webhook-timestamp / webhook-signature with standardwebhooks.Webhook(SECRET).verify
(SECRET may be @FILE: the secret is read from FILE at each request, for an endpoint made after the
receiver started),
answers 400 to a delivery that does not verify, 500 to the first FAIL_FIRST good ones (a receiver
that is down), and otherwise writes the verified body to OUT_DIR/{webhook-id}.json and answers
204.
Every request is logged to OUT_DIR/requests.log as "STATUS webhook-id".
"""
import http.server
import os
import sys

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

secret, out_dir, fail_first = sys.argv[1], sys.argv[2], int(sys.argv[3])
state = {"failed": 0}


def hook():
    if secret.startswith("@"):
        with open(secret[1:]) as f:
            return Webhook(f.read().strip())
    return Webhook(secret)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        msg_id = headers.get("webhook-id", "")
        try:
            hook().verify(body, headers)
            if state["failed"] < fail_first:
                state["failed"] += 1
                status = 500
            else:
                safe = "".join(c for c in msg_id if c.isalnum() or c in "-_")
                with open(os.path.join(out_dir, safe + ".json"), "wb") as f:
                    f.write(body)
                status = 204
        except WebhookVerificationError:
            status = 400
        with open(os.path.join(out_dir, "requests.log"), "a") as log:
            log.write(f"{status} {msg_id}\n")
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
