"""A small TCP proxy on loopback that a test can cut and restore, to drop the
connection between a client (a browser, the CLI) and a server for real."""

import socket
import threading
import time


class TcpProxy:
    def __init__(self, upstream_port, listen_port=0, upstream_host="127.0.0.1", rate=None):
        self.upstream = (upstream_host, upstream_port)
        # At most this many bytes a second each way (None: full speed), so a
        # test can act in the middle of a transfer.
        self.rate = rate
        self.port = listen_port
        self._listener = None
        self._conns = set()
        self._lock = threading.Lock()
        self._up = False
        # Bytes passed so far from the clients to the server, and back: a test
        # waits on them instead of guessing how long a busy machine takes.
        self.sent = 0
        self.answered = 0

    def start(self):
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", self.port))
        self.port = self._listener.getsockname()[1]
        self._listener.listen(128)
        self._up = True
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()
        return self

    def cut(self):
        """Close every open connection and stop listening: new connections are refused."""
        self._up = False
        listener, self._listener = self._listener, None
        if listener:
            # shutdown() wakes the thread blocked in accept(); close() alone
            # would leave the port listening until one more client came in.
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()
        with self._lock:
            conns, self._conns = self._conns, set()
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def restore(self):
        """Listen again on the same port."""
        if not self._up:
            self.start()

    stop = cut

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns.update((client, server))
            for a, b, upstream in ((client, server, True), (server, client, False)):
                threading.Thread(target=self._pipe, args=(a, b, upstream), daemon=True).start()

    def _pipe(self, src, dst, upstream):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
                if upstream:
                    self.sent += len(data)
                else:
                    self.answered += len(data)
                if self.rate:
                    time.sleep(len(data) / self.rate)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            with self._lock:
                self._conns.discard(src)
                self._conns.discard(dst)
