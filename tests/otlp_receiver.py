"""A real OTLP receiver for the tests: ``oteltest``'s HTTP sink in a process of its own.

``python tests/otlp_receiver.py PORT OUT.jsonl`` listens on ``127.0.0.1:PORT`` for
OTLP/HTTP (``/v1/traces``, ``/v1/metrics``, ``/v1/logs``, protobuf or JSON) and appends every
span it receives to ``OUT.jsonl`` as one JSON object per line (the OTLP JSON mapping of the
span, plus its ``resource`` attributes). It prints ``READY`` once listening.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from typing import Any


def main(port: int, out: str) -> None:
    from google.protobuf.json_format import MessageToDict
    from oteltest.sink import HttpSink
    from oteltest.sink.handler import RequestHandler

    lock = threading.Lock()

    class ToFile(RequestHandler):
        def handle_logs(self, request: Any, headers: Any) -> None:
            pass

        def handle_metrics(self, request: Any, headers: Any) -> None:
            pass

        def handle_trace(self, request: Any, headers: Any) -> None:
            data = MessageToDict(request)
            lines = []
            for resource_spans in data.get("resourceSpans", []):
                resource = resource_spans.get("resource", {}).get("attributes", [])
                for scope in resource_spans.get("scopeSpans", []):
                    for span in scope.get("spans", []):
                        lines.append(json.dumps({**span, "resource": resource}))
            with lock, open(out, "a", encoding="utf-8") as f:
                f.write("".join(line + "\n" for line in lines))

    sink = HttpSink(ToFile(), logging.getLogger("otlp"), port=port, daemon=False)
    sink.start()
    print("READY", flush=True)
    sink.svr_thread.join()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
