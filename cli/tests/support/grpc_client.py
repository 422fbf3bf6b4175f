"""A gRPC client over TLS (1.2 against Reprise) for cli/tests/terminator_faults.rs: calls
/test.Echo/Unary and /test.Echo/Stream (backends.py grpc) through ADDR, trusting the CA in
CA_FILE for the name "localhost", on CONNECTIONS channels one after another that share one
TLS session cache, so every connection after the first can resume. Prints one line per call.

usage: grpc_client.py ADDR CA_FILE CONNECTIONS
"""

import sys

import grpc
from grpc.experimental import session_cache


def main():
    addr, ca_file, connections = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(ca_file, "rb") as f:
        credentials = grpc.ssl_channel_credentials(root_certificates=f.read())
    cache = session_cache.ssl_session_cache_lru(16)
    options = [
        ("grpc.ssl_target_name_override", "localhost"),
        ("grpc.ssl_session_cache", cache),
    ]
    for n in range(connections):
        with grpc.secure_channel(addr, credentials, options=options) as channel:
            unary = channel.unary_unary("/test.Echo/Unary")
            answer = unary(b"ping %d" % n, timeout=10)
            print("unary %d: %s" % (n, answer.decode()), flush=True)
            stream = channel.stream_stream("/test.Echo/Stream")
            answers = list(stream(iter([b"a", b"bb", b"ccc"]), timeout=10))
            print("stream %d: %s" % (n, b",".join(answers).decode()), flush=True)


if __name__ == "__main__":
    main()
