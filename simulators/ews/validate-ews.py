"""Validates EWS SOAP messages against Microsoft's schema, one JSON request per stdin line.

The schema is compiled once (libxml2, through lxml: the same validator xmllint uses), so each
message costs well under a millisecond. Used by sinkrule's EWS simulator for every request.
Usage: validate-ews.py WRAPPER.xsd   (stdin: {"id": n, "xml": "..."}; stdout: {"id", "ok", "errors"})
"""
import json
import sys

from lxml import etree

parser = etree.XMLParser(no_network=True, resolve_entities=False)
schema = etree.XMLSchema(etree.parse(sys.argv[1], parser))
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    request = json.loads(line)
    try:
        ok = schema.validate(etree.fromstring(request["xml"].encode("utf-8"), parser))
        errors = [f"line {e.line}: {e.message}" for e in schema.error_log][:5]
    except etree.XMLSyntaxError as error:
        ok, errors = False, [str(error)]
    print(json.dumps({"id": request["id"], "ok": ok, "errors": errors}), flush=True)
