"""A real SMTP server on loopback for sendout's notice tests (aiosmtpd).

Usage: peer.py FOLDER [PORT]. Listens on 127.0.0.1:PORT (0 or absent: any free port), prints
`listening PORT`, and keeps every message it accepts as FOLDER/NNNN.json: the envelope, the
headers, the text body decoded from its transfer encoding, and the message as received. After
writing one (atomically) it prints `mail NNNN.json`, so a test waits on its output rather than
polling the folder. Messages already in FOLDER count, so a restarted peer goes on numbering.
"""

import asyncio
import email
import email.policy
import json
import os
import sys

from aiosmtpd.smtp import SMTP


class Keep:
    def __init__(self, folder):
        self.folder = folder
        self.count = len([n for n in os.listdir(folder) if n.endswith(".json")])

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        name = f"{self.count:04}.json"
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        body = message.get_body(preferencelist=("plain",))
        kept = {
            "envelope_from": envelope.mail_from,
            "envelope_to": list(envelope.rcpt_tos),
            "headers": [[k, str(v)] for k, v in message.items()],
            "subject": str(message["subject"] or ""),
            "body": body.get_content() if body is not None else "",
            "raw": raw.decode("utf-8", "replace"),
        }
        temporary = os.path.join(self.folder, name + ".tmp")
        with open(temporary, "w", encoding="utf-8") as out:
            json.dump(kept, out)
        os.rename(temporary, os.path.join(self.folder, name))
        print(f"mail {name}", flush=True)
        return "250 Message accepted for delivery"


async def main():
    folder = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    handler = Keep(folder)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="peer.test"), "127.0.0.1", port
    )
    print(f"listening {server.sockets[0].getsockname()[1]}", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
