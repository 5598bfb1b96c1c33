"""JSON log lines: one object per record, with the request id of the request it was made in."""

from __future__ import annotations

import io
import json
import logging
import logging.config

from rerankrt.server.logs import JsonFormatter, configure_json_logging, request_id_var


def _record(msg: str = "hello %s", args=("world",), **extra) -> logging.LogRecord:
    record = logging.LogRecord("rerankrt.server", logging.WARNING, __file__, 1, msg, args, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_formatter_writes_one_json_object_with_the_request_id():
    formatter = JsonFormatter()
    outside = json.loads(formatter.format(_record()))
    assert outside["msg"] == "hello world" and outside["level"] == "warning" and outside["request_id"] is None
    assert outside["logger"] == "rerankrt.server" and outside["ts"].endswith("+00:00")
    token = request_id_var.set("req-7")
    try:
        inside = json.loads(formatter.format(_record(status=200, path="/rerank")))
    finally:
        request_id_var.reset(token)
    assert inside["request_id"] == "req-7" and inside["status"] == 200 and inside["path"] == "/rerank"


def test_formatter_keeps_the_traceback():
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.LogRecord("rerankrt", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    line = JsonFormatter().format(record)
    assert "\n" not in line and "ValueError: boom" in json.loads(line)["exc"]


def test_configure_json_logging_routes_rerankrt_and_silences_uvicorn_access():
    stream = io.StringIO()
    log = logging.getLogger("rerankrt")
    saved = (log.handlers[:], log.level, log.propagate)
    access = logging.getLogger("uvicorn.access")
    saved_access = (access.handlers[:], access.level, access.propagate)
    try:
        logging.config.dictConfig(configure_json_logging("debug", stream=stream))
        logging.getLogger("rerankrt.server").debug("serving", extra={"port": 8000})
        logging.getLogger("uvicorn.access").info("GET / 200")
    finally:
        log.handlers[:], log.level, log.propagate = saved[0], saved[1], saved[2]
        access.handlers[:], access.level, access.propagate = saved_access[0], saved_access[1], saved_access[2]
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines == [{**lines[0], "msg": "serving", "port": 8000, "level": "debug"}]
