"""moto's EC2 server plus the test hooks Petrel's AWS tests need, in one process on 127.0.0.1.

Usage: python moto_petrel.py PORT   (prints "ready PORT" once it listens)

moto (pinned: test/support/moto/install.sh) is the real EC2 API model; this adds what it lacks:
- POST /_petrel/faults  [{"action": "RunInstances", "match": {"InstanceType": "p4d.24xlarge"},
  "region": "us-east-1", "status": 500, "code": "InsufficientInstanceCapacity", "message": "...",
  "times": 1, "after": false}]  -- the next matching calls fail with EC2's XML error. With
  "after": true the call is first carried out and only its answer is lost (a RunInstances that
  created the instance, then the connection failed).
- POST /_petrel/interrupt {"instanceId": "i-..", "region": "us-east-1", "delaySeconds": 2} -- a
  spot interruption: the instance's metadata at once serves the notice (IMDSv2, below), and
  after the delay the instance is terminated with Server.SpotInstanceTermination (moto itself
  can only say Client.UserInitiatedShutdown).
- /{instance id}/latest/api/token (PUT) and /{instance id}/latest/meta-data/spot/instance-action
  (GET, token required): the instance metadata service, one server for every instance.
- GET /_petrel/inventory -- instances not terminated, in every region.
- GET /_petrel/calls -- every EC2 call so far as {"action", "region"} (the region from the
  request's signature), to count API calls.
- RunInstances repeating a ClientToken answers with the first call's response (EC2's
  idempotency, which moto lacks).
- POST /moto-api/reset also clears faults, notices, tokens and the call log.
moto internals are used (ec2_backends, Instance.terminate, StateReason), hence the pinned version.
"""
import io
import json
import re
import sys
import threading
from urllib.parse import parse_qsl

from werkzeug.serving import make_server
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ec2.models import ec2_backends
from moto.ec2.models.instances import StateReason
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

moto_app = DomainDispatcherApplication(create_backend_app)
lock = threading.RLock()
faults = []
tokens = {}
notices = {}
calls = []
timers = []
ERR = ('<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code><Message>{msg}</Message>'
       '</Error></Errors><RequestID>petrel-fault</RequestID></Response>')
REGION = re.compile(r"Credential=[^/]+/\d+/([a-z0-9-]+)/ec2/")
IMDS = re.compile(r"^/(i-[0-9a-f]+)(/latest/.*)$")
SPOT = "Server.SpotInstanceTermination"


def region_of(environ):
    m = REGION.search(environ.get("HTTP_AUTHORIZATION", ""))
    return m.group(1) if m else "us-east-1"


def terminate_as_spot(region, instance_id):
    with lock:
        try:
            inst = ec2_backends[DEFAULT_ACCOUNT_ID][region].get_instance(instance_id)
        except Exception:
            return
        inst.terminate()
        inst._reason = SPOT
        inst.state_reason = StateReason(f"{SPOT}: Spot instance termination", SPOT)


def inventory():
    out = []
    with lock:
        for region, backend in list(ec2_backends[DEFAULT_ACCOUNT_ID].items()):
            for inst in backend.all_instances():
                if inst.state == "terminated":
                    continue
                out.append({"instanceId": inst.id, "region": region, "state": inst.state,
                            "tags": {t["key"]: t["value"] for t in backend.describe_tags(filters={"resource-id": [inst.id]})}})
    return out


def imds(environ, instance_id, rest, reply):
    method = environ["REQUEST_METHOD"]
    if rest == "/latest/api/token" and method == "PUT":
        if not environ.get("HTTP_X_AWS_EC2_METADATA_TOKEN_TTL_SECONDS"):
            return reply("400 Bad Request", b"missing X-aws-ec2-metadata-token-ttl-seconds", "text/plain")
        return reply("200 OK", f"petrel-imds-{instance_id}".encode(), "text/plain")
    if environ.get("HTTP_X_AWS_EC2_METADATA_TOKEN") != f"petrel-imds-{instance_id}":
        return reply("401 Unauthorized", b"", "text/plain")
    if rest == "/latest/meta-data/spot/instance-action" and instance_id in notices:
        return reply("200 OK", json.dumps(notices[instance_id]).encode())
    return reply("404 Not Found", b"", "text/plain")


def app(environ, start_response):
    path = environ["PATH_INFO"]
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))

    def reply(status, data, ctype="application/json"):
        start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(data)))])
        return [data]

    m = IMDS.match(path)
    if m:
        return imds(environ, m.group(1), m.group(2), reply)
    if path == "/_petrel/faults":
        with lock:
            faults[:] = json.loads(body or b"[]")
        return reply("200 OK", b"{}")
    if path == "/_petrel/interrupt":
        req = json.loads(body)
        region, iid = req.get("region", "us-east-1"), req["instanceId"]
        with lock:
            ec2_backends[DEFAULT_ACCOUNT_ID][region].get_instance(iid)  # fails (500) for an unknown id
            notices[iid] = {"action": "terminate", "time": req.get("time", "2026-01-01T00:00:00Z")}
        t = threading.Timer(float(req.get("delaySeconds", 2)), terminate_as_spot, (region, iid))
        t.daemon = True
        timers.append(t)
        t.start()
        return reply("200 OK", b"{}")
    if path == "/_petrel/inventory":
        return reply("200 OK", json.dumps(inventory()).encode())
    if path == "/_petrel/calls":
        with lock:
            return reply("200 OK", json.dumps(calls).encode())
    if path == "/moto-api/reset":
        with lock:
            for t in timers:
                t.cancel()
            timers.clear(); tokens.clear(); faults.clear(); notices.clear(); calls.clear()

    form = dict(parse_qsl(body.decode(errors="replace")))
    action, region = form.get("Action"), region_of(environ)
    after = None
    with lock:
        if action:
            calls.append({"action": action, "region": region})
        for f in faults:
            if f.get("times", 1) <= 0 or f["action"] != action or f.get("region", region) != region:
                continue
            if not all(form.get(k) == v for k, v in f.get("match", {}).items()):
                continue
            f["times"] = f.get("times", 1) - 1
            if f.get("after"):
                after = f
                break
            return reply(f'{f.get("status", 500)} Fault', ERR.format(code=f["code"], msg=f.get("message", f["code"])).encode(), "text/xml")
        key = form.get("ClientToken") if action == "RunInstances" else None
        if key and (region, key) in tokens:
            return reply("200 OK", tokens[(region, key)], "text/xml")
        environ["wsgi.input"] = io.BytesIO(body)
        got = {}
        out = b"".join(moto_app(environ, lambda status, headers, exc=None: got.update(status=status, headers=headers)))
        if key and got["status"].startswith("200"):
            tokens[(region, key)] = out
    if after:
        return reply(f'{after.get("status", 500)} Fault', ERR.format(code=after["code"], msg=after.get("message", after["code"])).encode(), "text/xml")
    start_response(got["status"], got["headers"])
    return [out]


if __name__ == "__main__":
    server = make_server("127.0.0.1", int(sys.argv[1]), app, threaded=True, request_handler=MotoRequestHandler)
    print(f"ready {server.server_port}", flush=True)
    server.serve_forever()
