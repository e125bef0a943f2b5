#!/usr/bin/env python3
"""A raw HTTP client for berth's control API that checks each answer against
docs/api/openapi.yaml (api-tests.sh uses it where `berth vm ctl` cannot go: bad
methods, bad bodies, malformed requests, a client that hangs up mid-request).

  api_check.py SPEC SOCKET METHOD PATH [BODY] --status N
      sends one request (BODY as given, nothing when absent) and checks that the answer
      has status N and a JSON body valid for that path, method and status in SPEC (an
      error status: ErrorBody); prints the body.
  api_check.py SPEC SOCKET --raw BYTES --status N
      sends BYTES (with \\r\\n escapes) as they are and checks the answer likewise.
  api_check.py SPEC SOCKET --hang-up BYTES
      sends BYTES, then closes the connection without reading an answer.
  api_check.py SPEC SOCKET --validate METHOD PATH STATUS FILE
      checks FILE (what `berth vm ctl` printed) as that request's answer.
  api_check.py SPEC SOCKET --batch FILE
      one of the above per line of FILE, as its arguments separated by tabs (python
      starts slowly in the emulated rig: one start for many checks); prints each
      failure, exits 1 when there was one.
"""
import argparse
import warnings
import json
import socket
import sys

import jsonschema
import yaml

# jsonschema 4.18 deprecates RefResolver; Debian 12 has 4.10, which has nothing newer.
warnings.filterwarnings("ignore", category=DeprecationWarning)


def schema_for(spec, method, path, status):
    """The JSON schema SPEC gives the answer of METHOD PATH with STATUS."""
    operation = spec["paths"].get(path, {}).get(method.lower())
    responses = operation["responses"] if operation else {}
    response = responses.get(str(status)) or responses.get("default")
    if response is None or status >= 400:
        # Unknown paths and methods answer with the API's one error body.
        response = spec["components"]["responses"]["Error"]
    if "$ref" in response:
        response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    return response["content"]["application/json"]["schema"]


def check(spec, method, path, status, body_text):
    body = json.loads(body_text)
    schema = schema_for(spec, method, path, status)
    resolver = jsonschema.RefResolver("", spec)
    jsonschema.Draft4Validator(schema, resolver=resolver).validate(body)
    return body


def exchange(socket_path, request):
    """Sends REQUEST (bytes), returns (status, headers, body text) of the answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.connect(socket_path)
        sock.sendall(request)
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            head, sep, rest = data.partition(b"\r\n\r\n")
            if sep:
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), None)
                if length is not None and len(rest) >= length:
                    break
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in
               (line.split(":", 1) for line in lines[1:] if ":" in line)}
    if headers.get("content-type") != "application/json":
        raise SystemExit(f"answer {status} has Content-Type {headers.get('content-type')!r}")
    return status, headers, body.decode()


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("spec")
    parser.add_argument("socket")
    parser.add_argument("request", nargs="*")
    parser.add_argument("--status", type=int)
    parser.add_argument("--raw")
    parser.add_argument("--hang-up")
    parser.add_argument("--validate", nargs=4, metavar=("METHOD", "PATH", "STATUS", "FILE"))
    parser.add_argument("--batch")
    args = parser.parse_args(argv)
    with open(args.spec) as f:
        spec = yaml.safe_load(f)

    def unescape(text):
        return text.encode().decode("unicode_escape").encode("latin-1")

    if args.batch:
        failed = False
        with open(args.batch) as f:
            for line in f:
                fields = line.rstrip("\n").split("\t")
                try:
                    with open("/dev/null", "w") as sys.stdout:
                        main([args.spec, args.socket] + fields)
                except (SystemExit, Exception) as e:  # noqa: BLE001 - report and go on
                    failed = True
                    print(f"failed: {fields}: {e}", file=sys.stderr)
                finally:
                    sys.stdout = sys.__stdout__
        sys.exit(1 if failed else 0)
    if args.validate:
        method, path, status, file = args.validate
        with open(file) as f:
            check(spec, method, path, int(status), f.read())
        return
    if args.hang_up is not None:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(args.socket)
            sock.sendall(unescape(args.hang_up))
        return
    if args.raw is not None:
        request = unescape(args.raw)
        first = request.split(b"\r\n", 1)[0].split()
        method = first[0].decode() if first else ""
        path = first[1].decode() if len(first) > 1 else ""
    else:
        method, path = args.request[0], args.request[1]
        body = args.request[2].encode() if len(args.request) > 2 else b""
        request = (f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                   f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                   ).encode() + body
    status, headers, text = exchange(args.socket, request)
    if args.status is not None and status != args.status:
        raise SystemExit(f"{method} {path}: status {status}, want {args.status}: {text}")
    try:
        check(spec, method, path, status, text)
    except (ValueError, jsonschema.ValidationError) as e:
        raise SystemExit(f"{method} {path}: answer {status} does not match the spec: {e}")
    if status == 405 and "allow" not in headers:
        raise SystemExit(f"{method} {path}: 405 without an Allow header")
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
