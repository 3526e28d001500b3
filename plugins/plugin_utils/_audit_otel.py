# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""OpenTelemetry traces of a run: on when opentelemetry-sdk is installed, off otherwise.

One root span per run and one child span per task result per host, built at
the end of the run from what the audit recorded (so the run pays nothing while
it goes). A task's status is kept as it was, `changed` included, in the
attribute `ansible.task.status`; failed results set the span status to ERROR.
Exported over OTLP (the standard OTEL_EXPORTER_OTLP_* environment variables)
or, for tests and air-gapped sites, as JSON lines to a file.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path


def available() -> bool:
    """Whether opentelemetry-sdk can be imported, without importing it."""
    try:
        return importlib.util.find_spec("opentelemetry.sdk") is not None
    except (ImportError, ValueError):
        return False


def _otlp_exporter():
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def _file_exporter(path: Path):
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class JsonLinesExporter(SpanExporter):
        def export(self, spans):
            with open(path, "a", encoding="utf-8") as out:
                for span in spans:
                    out.write(json.dumps(json.loads(span.to_json())) + "\n")
            return SpanExportResult.SUCCESS

    return JsonLinesExporter()


def export(run: dict, results: list[dict], file: Path | None = None, timeout_ms: int = 3000):
    """Send the run's spans; returns None, or why nothing was sent. Never raises."""
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.trace import Status, StatusCode

        exporter = _file_exporter(Path(file)) if file else _otlp_exporter()
        provider = TracerProvider(resource=Resource.create({"service.name": "slipway"}))
        provider.add_span_processor(BatchSpanProcessor(exporter, export_timeout_millis=timeout_ms))
        tracer = provider.get_tracer("slipway.ops.audit")
        root = tracer.start_span(run["name"], start_time=run["start_ns"], attributes=run["attrs"])
        if not run["success"]:
            root.set_status(Status(StatusCode.ERROR))
        from opentelemetry.trace import set_span_in_context

        context = set_span_in_context(root)
        for result in results:
            span = tracer.start_span(
                result["name"],
                context=context,
                start_time=result["start_ns"],
                attributes=result["attrs"],
            )
            if result["failed"]:
                span.set_status(Status(StatusCode.ERROR))
            span.end(end_time=result["end_ns"])
        root.end(end_time=run["end_ns"])
        provider.force_flush(timeout_ms)
        provider.shutdown()
    except Exception as error:  # telemetry must never fail a run
        return f"{type(error).__name__}: {error}"
    return None
