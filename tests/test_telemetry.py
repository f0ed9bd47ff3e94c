"""Traces exported over OTLP/HTTP to a collector on loopback, as a real collector receives them."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from llmops_wb.telemetry import model_span_attributes, tracer_provider


def test_spans_reach_an_otlp_collector_complete_and_ended():
    received: list[ExportTraceServiceRequest] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(ExportTraceServiceRequest.FromString(body) if self.path == "/v1/traces" else None)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *args): pass

    server = HTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        provider = tracer_provider({"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{server.server_port}",
                                    "OTEL_SERVICE_NAME": "llmops-wb-test"})
        tracer = provider.get_tracer("llmops_wb")
        with tracer.start_as_current_span("run summarize"):
            with tracer.start_as_current_span("chat smollm2", attributes=model_span_attributes("smollm2", "smollm2",
                                                                                                12, 40)):
                pass
        provider.shutdown()  # flushes the batch
    finally:
        server.shutdown()
        server.server_close()

    assert received and all(r is not None for r in received)
    spans = [s for r in received for rs in r.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert sorted(s.name for s in spans) == ["chat smollm2", "run summarize"]
    assert all(s.end_time_unix_nano >= s.start_time_unix_nano > 0 for s in spans)
    chat = next(s for s in spans if s.name == "chat smollm2")
    attributes = {a.key: a.value for a in chat.attributes}
    assert attributes["gen_ai.request.model"].string_value == "smollm2"
    assert attributes["gen_ai.usage.output_tokens"].int_value == 40
    service = {a.key: a.value.string_value for a in received[0].resource_spans[0].resource.attributes}
    assert service["service.name"] == "llmops-wb-test"
