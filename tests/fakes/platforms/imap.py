"""A small IMAP4rev1 server (RFC 3501) holding one mailbox, for the IMAP connector's tests.

It speaks the part of the protocol a read-only reader uses: CAPABILITY,
LOGIN, SELECT/EXAMINE (with UIDVALIDITY and UIDNEXT), UID SEARCH with a UID
range, UID FETCH of ``BODY.PEEK[]`` and ``INTERNALDATE`` as literals, NOOP
and LOGOUT; other commands get ``BAD``. Tests can change the validity, make
a command answer ``NO`` (throttling), or drop the connection at a fetch.
"""

from __future__ import annotations

import re
import socketserver
import threading
from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["FakeImapServer", "Stored"]


@dataclass
class Stored:
    uid: int
    raw: bytes
    internal_date: datetime
    flags: list[str] = field(default_factory=list)


class FakeImapServer:
    def __init__(self, user: str = "social@example.com", password: str = "app-password") -> None:
        self.user, self.password = user, password
        self.messages: list[Stored] = []
        self.uidvalidity = 1700000000
        self.folders = {"INBOX"}
        #: command name -> a canned tagged NO text, answered once
        self.refuse: dict[str, str] = {}
        #: close the connection instead of answering the n-th UID FETCH (1-based), once
        self.drop_at_fetch: int | None = None
        self.fetches = 0
        self.commands: list[str] = []
        self._server: socketserver.ThreadingTCPServer | None = None
        self.port = 0

    def add(self, raw: bytes, when: datetime) -> int:
        uid = (self.messages[-1].uid if self.messages else 0) + 1
        self.messages.append(Stored(uid, raw, when))
        return uid

    def start(self) -> FakeImapServer:
        owner = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                owner._session(self)

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    # -- protocol ---------------------------------------------------------
    def _session(self, h: socketserver.StreamRequestHandler) -> None:
        def send(line: str | bytes) -> None:
            h.wfile.write(line if isinstance(line, bytes) else line.encode() + b"\r\n")

        send("* OK [CAPABILITY IMAP4rev1] fake server ready")
        authed = selected = False
        while True:
            line = h.rfile.readline()
            if not line:
                return
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            tag, _, rest = text.partition(" ")
            command, _, args = rest.partition(" ")
            command = command.upper()
            if command == "UID":
                sub, _, args = args.partition(" ")
                command = f"UID {sub.upper()}"
            self.commands.append(command)
            if command in self.refuse:
                send(f"{tag} NO {self.refuse.pop(command)}")
                continue
            if command == "CAPABILITY":
                send("* CAPABILITY IMAP4rev1")
                send(f"{tag} OK CAPABILITY completed")
            elif command == "LOGIN":
                user, password = [a.strip('"') for a in re.findall(r'"[^"]*"|\S+', args)][:2]
                if (user, password) == (self.user, self.password):
                    authed = True
                    send(f"{tag} OK LOGIN completed")
                else:
                    send(f"{tag} NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)")
            elif command in ("SELECT", "EXAMINE") and authed:
                folder = args.strip().strip('"')
                if folder not in self.folders:
                    send(f"{tag} NO [NONEXISTENT] Unknown Mailbox: {folder}")
                    continue
                selected = True
                nxt = (self.messages[-1].uid if self.messages else 0) + 1
                send(f"* {len(self.messages)} EXISTS")
                send("* 0 RECENT")
                send("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)")
                send(f"* OK [UIDVALIDITY {self.uidvalidity}] UIDs valid")
                send(f"* OK [UIDNEXT {nxt}] Predicted next UID")
                mode = "READ-ONLY" if command == "EXAMINE" else "READ-WRITE"
                send(f"{tag} OK [{mode}] {command} completed")
            elif command == "UID SEARCH" and selected:
                send("* SEARCH " + " ".join(str(m.uid) for m in self._in_range(args)))
                send(f"{tag} OK SEARCH completed")
            elif command == "UID FETCH" and selected:
                self.fetches += 1
                if self.drop_at_fetch == self.fetches:
                    self.drop_at_fetch = None
                    return  # the connection drops mid-session
                uid_set = args.split(" ", 1)[0]
                wanted = {int(u) for u in uid_set.split(",")}
                for seq, m in enumerate(self.messages, 1):
                    if m.uid in wanted:
                        date = m.internal_date.strftime("%d-%b-%Y %H:%M:%S %z")
                        send(f'* {seq} FETCH (UID {m.uid} INTERNALDATE "{date}" BODY[] {{{len(m.raw)}}}'.encode()
                             + b"\r\n" + m.raw + b")\r\n")
                send(f"{tag} OK FETCH completed")
            elif command == "NOOP":
                send(f"{tag} OK NOOP completed")
            elif command == "LOGOUT":
                send("* BYE logging out")
                send(f"{tag} OK LOGOUT completed")
                return
            else:
                send(f"{tag} BAD command unknown or not allowed in this state")

    def _in_range(self, args: str) -> list[Stored]:
        match = re.search(r"UID (\d+):(\*|\d+)", args, re.IGNORECASE)
        if not match:
            return list(self.messages)
        low = int(match.group(1))
        high = max((m.uid for m in self.messages), default=0) if match.group(2) == "*" else int(match.group(2))
        if low > high:  # RFC 3501: n:* with n beyond the last UID still matches the last message
            low, high = high, low
        return [m for m in self.messages if low <= m.uid <= high]
