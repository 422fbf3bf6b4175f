"""Plaintext backends that misbehave on purpose, for the terminator's fault tests
(cli/tests/terminator_faults.rs). Each listens on 127.0.0.1:PORT and prints "ready" once it
accepts; it runs until killed.

  slow SECONDS   HTTP/1.1, keep-alive: each request is answered after SECONDS, in two writes
                 (head, then body) a few milliseconds apart.
  reset-half     Answers each request with a head announcing 100000 body bytes, sends half of
                 them, then resets the connection (SO_LINGER 0).
  silent         Accepts and reads, and never answers.
  report         Reads each connection to its end and prints how it ended: "client ended:
                 eof after N bytes" or "client ended: reset after N bytes".
  grpc           A gRPC server speaking h2 in the clear (h2c): /test.Echo/Unary echoes its
                 request, /test.Echo/Stream answers each request message of a stream with
                 the same bytes (raw bytes, no protobuf).
"""

import socket
import struct
import sys
import threading
import time


def read_head(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return None
        data += chunk
    return data


def serve_tcp(port, handle):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(256)
    print("ready", flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


def slow(delay):
    def handle(conn):
        with conn:
            while True:
                head = read_head(conn)
                if head is None:
                    return
                time.sleep(delay)
                body = b"answered after %.1fs\n" % delay
                conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(body))
                time.sleep(0.02)
                conn.sendall(body)

    return handle


def reset_half(conn):
    if read_head(conn) is None:
        conn.close()
        return
    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n" + b"x" * 50000)
    time.sleep(0.2)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def silent(conn):
    with conn:
        while conn.recv(4096):
            pass


def report(conn):
    n = 0
    try:
        while True:
            data = conn.recv(65536)
            if not data:
                print("client ended: eof after %d bytes" % n, flush=True)
                break
            n += len(data)
    except ConnectionResetError:
        print("client ended: reset after %d bytes" % n, flush=True)
    conn.close()


def grpc_server(port):
    from concurrent import futures

    import grpc

    def unary(request, context):
        return request

    def stream(requests, context):
        for request in requests:
            yield request

    handler = grpc.method_handlers_generic_handler(
        "test.Echo",
        {
            "Unary": grpc.unary_unary_rpc_method_handler(unary),
            "Stream": grpc.stream_stream_rpc_method_handler(stream),
        },
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port("127.0.0.1:%d" % port)
    server.start()
    print("ready", flush=True)
    server.wait_for_termination()


def main():
    mode, port = sys.argv[1], int(sys.argv[-1])
    if mode == "slow":
        serve_tcp(port, slow(float(sys.argv[2])))
    elif mode == "reset-half":
        serve_tcp(port, reset_half)
    elif mode == "silent":
        serve_tcp(port, silent)
    elif mode == "report":
        serve_tcp(port, report)
    elif mode == "grpc":
        grpc_server(port)
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
